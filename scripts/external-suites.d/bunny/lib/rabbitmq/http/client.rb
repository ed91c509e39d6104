# The few calls of the rabbitmq_http_api_client gem (1.15) that Bunny's specs make, over Net::HTTP:
# that gem and its Faraday/Hashie dependencies are not packaged by Debian.
require "json"
require "net/http"
require "uri"

module Faraday
  # Raised on 404, as Faraday's raise_error middleware does (connection_recovery_spec rescues it).
  class ResourceNotFound < StandardError; end
end

module RabbitMQ
  module HTTP
    # A JSON object readable both as a Hash and by method name, as Hashie::Mash is.
    class Record < Hash
      def self.wrap(value)
        case value
        when Hash then value.each_with_object(new) { |(k, v), h| h[k.to_s] = wrap(v) }
        when Array then value.map { |v| wrap(v) }
        else value
        end
      end

      def method_missing(name, *args)
        key = name.to_s
        return self[key] if args.empty? && key?(key)
        return nil if args.empty? && !key.end_with?("=", "!", "?")
        super
      end

      def respond_to_missing?(name, include_private = false)
        key?(name.to_s) || super
      end
    end

    class Client
      def initialize(endpoint, options = {})
        @uri = URI(endpoint)
        @username = options[:username] || @uri.user || "guest"
        @password = options[:password] || @uri.password || "guest"
      end

      def list_connections
        get("/api/connections")
      end

      def list_channels
        get("/api/channels")
      end

      def list_queues(vhost = nil)
        get(vhost ? "/api/queues/#{escape(vhost)}" : "/api/queues")
      end

      def list_exchanges(vhost = nil)
        get(vhost ? "/api/exchanges/#{escape(vhost)}" : "/api/exchanges")
      end

      def close_connection(name)
        request(Net::HTTP::Delete, "/api/connections/#{escape(name)}")
      end

      private

      def escape(segment)
        URI.encode_www_form_component(segment).gsub("+", "%20")
      end

      def get(path)
        Record.wrap(JSON.parse(request(Net::HTTP::Get, path)))
      end

      def request(kind, path)
        req = kind.new(path)
        req.basic_auth(@username, @password)
        res = Net::HTTP.start(@uri.host, @uri.port) { |http| http.request(req) }
        raise Faraday::ResourceNotFound, "#{path}: 404" if res.code == "404"
        raise "#{kind::METHOD} #{path}: HTTP #{res.code} #{res.body}" unless res.code.start_with?("2")
        res.body.to_s
      end
    end
  end
end
