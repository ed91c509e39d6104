# Loaded in place of Bunny's spec/spec_helper.rb by scripts/external-suites.
# Bunny's own helper calls Bundler.require on its Gemfile, which names gems (rspec ~> 3.10,
# rabbitmq_http_api_client, toxiproxy) that Debian does not package; this one loads the Debian
# bunny and amq-protocol gems and the small management-API client in
# scripts/external-suites.d/bunny/lib (on the load path through rspec -I). Nothing in the
# specs uses the helper's other modules (RabbitMQ::Control, PlatformDetection).
require "bunny"
require "bunny/test_kit"
require "rabbitmq/http/client"

puts "Using Ruby #{RUBY_VERSION}, Bunny #{Bunny::VERSION}, amq-protocol #{AMQ::Protocol::VERSION}"
