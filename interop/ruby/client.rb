# Interop client: Bunny (Debian's ruby-bunny).  Usage: ruby client.rb URL SCENARIO PREFIX
# Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
require 'bunny'
require 'json'
require 'logger'
require 'securerandom'
require 'uri'

URL, SCENARIO, PREFIX = ARGV
P = "#{PREFIX}.#{SCENARIO.start_with?('persist-') ? 'persist' : SCENARIO}"

class Fail < StandardError; end

# ---- fixtures, the same in every language (see interop/python/common.py)
BODY = (0..255).to_a.pack('C*')
HEADERS = {
  'str' => 'text', 'int' => 42, 'neg' => -7, 'big' => 10_000_000_000, 'bool' => true,
  'nested' => { 'level' => 2, 'inner' => { 'deep' => 'yes' } }, 'list' => [1, 'two', { 'three' => 3 }]
}.freeze
USER = URI.decode_www_form_component(URI(URL).user || 'guest')
PROPS = {
  content_type: 'application/octet-stream', content_encoding: 'identity', headers: HEADERS,
  delivery_mode: 2, priority: 5, correlation_id: 'corr-1', reply_to: 'reply-here', expiration: '60000',
  message_id: 'msg-1', timestamp: 1_700_000_000, type: 'interop.test', user_id: USER, app_id: 'interop',
  cluster_id: 'cluster-1'
}.freeze
QUEUE_ARGS = { 'x-message-ttl' => 60_000, 'x-max-length' => 100, 'x-max-priority' => 10 }.freeze
LARGE = 5 * 1024 * 1024
TOPIC_KEYS = %w[orders.new.eu orders.new.us orders invoices.new.eu orders.new.eu.extra].freeze

def check(cond, msg)
  raise Fail, msg unless cond
end

def eq(what, got, want)
  raise Fail, "#{what}: got #{got.inspect}, want #{want.inspect}" unless got == want
end

def until_true(what, timeout = 10)
  deadline = Time.now + timeout
  until yield
    raise Fail, "timed out waiting for #{what}" if Time.now > deadline
    sleep 0.01
  end
end

def connect(url = URL, **opts)
  # Bunny reads "amqp://host/" as the empty vhost (as the AMQP URI spec says): mean "/"
  path = URI(url).path
  opts[:vhost] = '/' if path.nil? || path == '' || path == '/'
  conn = Bunny.new(url, logger: Logger.new(nil), automatically_recover: false, **opts)
  conn.start
  conn
end

def with_conn(**opts)
  conn = connect(**opts)
  begin
    yield conn
  ensure
    conn.close if conn.open?
  end
end

# Declares the exchanges ({name => type}) and then the queues on ch, yields their Bunny objects
# in that order, and however the block ends deletes those queues and the queues in deletes,
# then those exchanges and the exchanges in deletes_exchanges (what the block declares itself);
# on a new channel of cleanup_conn when given, else on ch.
def with_declared(ch, queues: [], exchanges: {}, deletes: [], deletes_exchanges: [], cleanup_conn: nil)
  made = exchanges.map { |name, type| ch.exchange(name, type: type, durable: false, auto_delete: false) }
  yield(*made, *queues.map { |q| ch.queue(q, durable: false) })
ensure
  d = cleanup_conn ? cleanup_conn.create_channel : ch
  (queues + deletes).each { |q| d.queue_delete(q) }
  (exchanges.keys + deletes_exchanges).each { |x| d.exchange_delete(x) }
end

# Channel#basic_get returns [AMQ::Protocol::Basic::GetOk, properties Hash, body]
def drain(ch, q)
  out = []
  loop do
    _, _, body = ch.basic_get(q, manual_ack: false)
    return out if body.nil?
    out << body
  end
end

def count(ch, q)
  ch.queue_declare(q, passive: true).message_count
end

def scenario_connect
  with_conn do |c|
    c.create_channel.close
    "server #{c.server_properties['product']} #{c.server_properties['version']}"
  end
end

def scenario_bad_password
  u = URI(URL)
  u.password = 'wrong-password'
  begin
    c = connect(u.to_s)
  rescue Bunny::AuthenticationFailureError, Bunny::PossibleAuthenticationFailureError => e
    return "refused: #{e.class}: #{e.message}"
  end
  c.close
  raise Fail, 'connection with a wrong password was accepted'
end

def scenario_declare
  with_conn do |c|
    ch = c.create_channel
    kinds = %w[direct fanout topic headers]
    exchanges = kinds.to_h { |k| ["#{P}.#{k}", k.to_sym] }
    with_declared(ch, exchanges: exchanges, deletes: ["#{P}.q"]) do |*made|
      ex = kinds.zip(made).to_h
      args = QUEUE_ARGS.merge('x-dead-letter-exchange' => "#{P}.fanout")
      q = ch.queue("#{P}.q", durable: false, arguments: args)
      eq('declare-ok', [q.name, q.message_count], ["#{P}.q", 0])
      ch.queue_declare("#{P}.q", durable: false, arguments: args)
      ch.queue_declare("#{P}.q", passive: true)
      %w[direct fanout topic].each { |k| q.bind(ex[k], routing_key: 'k') }
      q.bind(ex['headers'], arguments: { 'x-match' => 'all', 'h' => 'v' })
      ex['headers'].publish('other', headers: { 'h' => 'other' })
      ex['headers'].publish('match', headers: { 'h' => 'v' })
      eq('routed by the headers exchange', drain(ch, q.name), ['match'])
      anon = ch.queue('', exclusive: true).name
      check(anon.start_with?('amq.gen-'), "server-named queue #{anon}")
    end
  end
  ''
end

def scenario_roundtrip
  with_conn do |c|
    ch = c.create_channel
    with_declared(ch, queues: ["#{P}.q"]) do |q|
      ch.default_exchange.publish(BODY, routing_key: q.name, **PROPS)
      got = []
      q.subscribe(manual_ack: true) { |info, props, body| got << [info, props, body] }
      until_true('delivery') { !got.empty? }
      info, props, body = got[0]
      eq('body', body.b, BODY)
      PROPS.each do |k, v|
        value = props.send(k)
        value = value.to_i if k == :timestamp
        eq("property #{k}", value, v)
      end
      eq('delivery', [info.exchange, info.routing_key, info.redelivered?], ['', q.name, false])
      ch.ack(info.delivery_tag)
    end
  end
  ''
end

def scenario_topic
  with_conn do |c|
    ch = c.create_channel
    with_declared(ch, queues: ["#{P}.q1", "#{P}.q2"], exchanges: { "#{P}.x" => :topic }) do |x, q1, q2|
      q1.bind(x, routing_key: 'orders.*.eu')
      q2.bind(x, routing_key: 'orders.#')
      TOPIC_KEYS.each { |k| x.publish(k, routing_key: k) }
      eq('q1', drain(ch, "#{P}.q1"), ['orders.new.eu'])
      eq('q2', drain(ch, "#{P}.q2"), %w[orders.new.eu orders.new.us orders orders.new.eu.extra])
    end
  end
  ''
end

def scenario_fanout
  with_conn do |c|
    ch = c.create_channel
    queues = (0..2).map { |i| "#{P}.q#{i}" }
    with_declared(ch, queues: queues, exchanges: { "#{P}.x" => :fanout }) do |x, *qs|
      qs.each_with_index { |q, i| q.bind(x, routing_key: "key#{i}") }
      x.publish('to all', routing_key: 'anything')
      queues.each { |q| eq(q, drain(ch, q), ['to all']) }
    end
  end
  ''
end

def scenario_work_queue
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    with_declared(ch, queues: [q], cleanup_conn: c) do
      10.times { |i| ch.default_exchange.publish(i.to_s, routing_key: q) }
      slow_ch = c.create_channel
      fast_ch = c.create_channel
      slow = Queue.new
      fast = Queue.new
      slow_ch.prefetch(1)
      slow_ch.queue(q, durable: false).subscribe(manual_ack: true) { |info, _, body| slow << [info.delivery_tag, body] }
      until_true('first delivery to the slow consumer') { slow.size.positive? }
      fast_ch.prefetch(1)
      fast_ch.queue(q, durable: false).subscribe(manual_ack: true) do |info, _, body|
        fast << body
        fast_ch.ack(info.delivery_tag)
      end
      until_true('9 deliveries to the fast consumer') { fast.size >= 9 }
      sleep 0.2
      slow_got = Array.new(slow.size) { slow.pop }
      eq('slow consumer (prefetch 1, never acks) got', slow_got.map(&:last), ['0'])
      eq('fast consumer got', Array.new(fast.size) { fast.pop }, (1..9).map(&:to_s))
      slow_ch.ack(slow_got[0][0])
      sleep 0.1
      eq('left in queue', count(ch, q), 0)
    end
  end
  ''
end

def scenario_ack_nack_reject
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    with_declared(ch, queues: [q], cleanup_conn: c) do
      %w[ack nack reject].each { |b| ch.default_exchange.publish(b, routing_key: q) }
      cch = c.create_channel
      cch.prefetch(10)
      got = []
      lock = Mutex.new
      cch.queue(q, durable: false).subscribe(manual_ack: true) { |info, _, body| lock.synchronize { got << [info, body] } }
      until_true('3 deliveries') { lock.synchronize { got.size } >= 3 }
      eq('first deliveries', got.map(&:last), %w[ack nack reject])
      cch.ack(got[0][0].delivery_tag)
      cch.nack(got[1][0].delivery_tag, false, true)
      cch.reject(got[2][0].delivery_tag, false)
      until_true('redelivery after nack') { lock.synchronize { got.size } >= 4 }
      eq('redelivery', [got[3][1], got[3][0].redelivered?], ['nack', true])
      cch.ack(got[3][0].delivery_tag)
      sleep 0.2
      eq('deliveries', got.size, 4)
      eq('left in queue', count(ch, q), 0)
    end
  end
  ''
end

def scenario_basic_get
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    with_declared(ch, queues: [q]) do
      ch.default_exchange.publish('one', routing_key: q)
      ch.default_exchange.publish('two', routing_key: q)
      info, _, body = ch.basic_get(q, manual_ack: true)
      eq('first get', [body, info.message_count, info.redelivered], ['one', 1, false])
      ch.ack(info.delivery_tag)
      info, _, body = ch.basic_get(q, manual_ack: true)
      eq('second get', [body, info.message_count], ['two', 0])
      ch.reject(info.delivery_tag, true)
      info, _, body = ch.basic_get(q, manual_ack: true)
      eq('get after reject', [body, info.redelivered], ['two', true])
      ch.ack(info.delivery_tag)
      _, _, body = ch.basic_get(q, manual_ack: true)
      check(body.nil?, 'get on the empty queue returned a message')
    end
  end
  ''
end

def scenario_confirms
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    with_declared(ch, queues: [q]) do
      ch.confirm_select
      50.times { |i| ch.default_exchange.publish(i.to_s, routing_key: q) }
      check(ch.wait_for_confirms, "nacked: #{ch.nacked_set.to_a}")
      eq('unconfirmed', ch.unconfirmed_set.size, 0)
      eq('queued', count(ch, q), 50)
    end
  end
  ''
end

def scenario_mandatory_return
  with_conn do |c|
    ch = c.create_channel
    with_declared(ch, exchanges: { "#{P}.x" => :direct }) do |x|
      returned = []
      x.on_return { |info, _props, body| returned << [info.reply_code, info.reply_text, info.exchange, info.routing_key, body] }
      x.publish('bounce', routing_key: 'nowhere', mandatory: true)
      until_true('basic.return') { !returned.empty? }
      eq('return', returned[0], [312, 'NO_ROUTE', "#{P}.x", 'nowhere', 'bounce'])
    end
  end
  ''
end

def scenario_rpc
  with_conn do |c|
    server = c.create_channel
    client = c.create_channel
    q = "#{P}.requests"
    with_declared(server, queues: [q], cleanup_conn: c) do |requests|
      requests.subscribe(manual_ack: true) do |info, props, body|
        server.default_exchange.publish(body.upcase, routing_key: props.reply_to, correlation_id: props.correlation_id)
        server.ack(info.delivery_tag)
      end
      callback = client.queue('', exclusive: true)
      replies = {}
      lock = Mutex.new
      callback.subscribe { |_, props, body| lock.synchronize { replies[props.correlation_id] = body } }
      want = {}
      %w[alpha beta gamma].each do |w|
        cid = SecureRandom.uuid
        want[cid] = w.upcase
        client.default_exchange.publish(w, routing_key: q, reply_to: callback.name, correlation_id: cid)
      end
      until_true('3 replies') { lock.synchronize { replies.size } >= 3 }
      eq('replies by correlation_id', replies, want)
    end
  end
  ''
end

def scenario_tx
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    with_declared(ch, queues: [q]) do
      ch.tx_select
      ch.default_exchange.publish('rolled back', routing_key: q)
      ch.tx_rollback
      eq('after rollback', count(ch, q), 0)
      ch.default_exchange.publish('committed', routing_key: q)
      eq('before commit', count(ch, q), 0)
      ch.tx_commit
      eq('after commit', count(ch, q), 1)
      info, _, body = ch.basic_get(q, manual_ack: true)
      eq('body', body, 'committed')
      ch.ack(info.delivery_tag)
      ch.tx_commit
      eq('after acked commit', count(ch, q), 0)
    end
  end
  ''
end

def scenario_consumer_cancel
  with_conn do |c|
    ch = c.create_channel
    q = ch.queue("#{P}.q", durable: false)
    cancelled = []
    consumer = q.subscribe(manual_ack: true, on_cancellation: ->(frame) { cancelled << frame.consumer_tag }) { |*| nil }
    c.create_channel.queue_delete(q.name)
    until_true('basic.cancel from the server', 5) { !cancelled.empty? }
    eq('cancelled consumer tag', cancelled[0], consumer.consumer_tag)
    check(ch.open?, 'channel closed after the server cancelled its consumer')
    ch.queue('', exclusive: true)
  end
  ''
end

def scenario_large_message
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.q"
    body = (0...251).to_a.pack('C*') * (LARGE / 251 + 1)
    body = body.byteslice(0, LARGE)
    with_declared(ch, queues: [q]) do
      ch.default_exchange.publish(body, routing_key: q)
      got = []
      ch.queue(q, durable: false).subscribe { |_, _, b| got << b }
      until_true('the 5 MiB delivery', 30) { !got.empty? }
      eq('size', got[0].bytesize, LARGE)
      check(got[0].b == body.b, 'body differs')
    end
  end
  ''
end

def scenario_heartbeat
  with_conn(heartbeat: 1) do |c|
    eq('negotiated heartbeat', c.heartbeat, 1)
    ch = c.create_channel
    sleep 3 # Bunny's heartbeat sender thread keeps the connection alive
    q = ch.queue('', exclusive: true)
    ch.default_exchange.publish('still alive', routing_key: q.name)
    _, _, body = ch.basic_get(q.name, manual_ack: false)
    eq('after idle', body, 'still alive')
  end
  'negotiated 1 s, idle 3 s, connection alive'
end

def scenario_channel_error
  with_conn do |c|
    ch = c.create_channel
    detail = nil
    begin
      ch.queue_declare("#{P}.missing", passive: true)
      raise Fail, 'passive declare of a missing queue succeeded'
    rescue Bunny::NotFound => e
      detail = e.message
    end
    check(ch.closed?, 'channel still open')
    check(c.open?, 'connection closed')
    c.create_channel.queue('', exclusive: true)
    detail
  end
end

def scenario_persist_publish
  with_conn do |c|
    ch = c.create_channel
    x = ch.direct("#{P}.x", durable: true)
    ch.queue("#{P}.q", durable: true).bind(x, routing_key: 'k')
    ch.queue("#{P}.transient-q", durable: false)
    ch.confirm_select
    x.publish('persisted', routing_key: 'k', persistent: true)
    x.publish('transient', routing_key: 'k', persistent: false)
    check(ch.wait_for_confirms, 'not confirmed')
  end
  ''
end

def scenario_persist_check
  with_conn do |c|
    ch = c.create_channel
    # the cleanup has a channel of its own: a failed check may close the one it uses
    with_declared(ch, deletes: ["#{P}.q", "#{P}.transient-q"], deletes_exchanges: ["#{P}.x"], cleanup_conn: c) do
      eq('messages in the durable queue after restart', count(ch, "#{P}.q"), 1)
      info, props, body = ch.basic_get("#{P}.q", manual_ack: true)
      eq('message', [body, props[:delivery_mode]], ['persisted', 2])
      ch.ack(info.delivery_tag)
      ch.basic_publish('via binding', "#{P}.x", 'k')
      _, _, body = ch.basic_get("#{P}.q", manual_ack: false)
      check(!body.nil?, 'the durable binding did not survive the restart')
      begin
        c.create_channel.queue_declare("#{P}.transient-q", passive: true)
        raise Fail, 'the non-durable queue survived the restart'
      rescue Bunny::NotFound
        nil
      end
    end
  end
  ''
end

# ---- stream and quorum (see python/common.py)
STREAM_COUNT = 10
STREAM_SAVED = 5
RETENTION_COUNT = 100
RETENTION_SIZE = 100
DELIVERY_LIMIT = 2

def stream_body(i) = "s#{i}"

def retention_body(i) = format('r%03d', i).ljust(RETENTION_SIZE, '.')

def publish_confirmed(ch, q, body)
  ch.default_exchange.publish(body, routing_key: q, persistent: true)
  check(ch.wait_for_confirms, "#{body} nacked")
end

# Consumes the stream from x-stream-offset with prefetch: [body, offset header] up to body last.
def read_stream(conn, q, offset, last)
  ch = conn.create_channel
  ch.prefetch(RETENTION_COUNT)
  got = []
  lock = Mutex.new
  ch.basic_consume(q, ch.generate_consumer_tag, false, false, { 'x-stream-offset' => offset }) do |info, props, body|
    lock.synchronize { got << [body, props.headers['x-stream-offset']] }
    ch.ack(info.delivery_tag)
  end
  until_true("#{last} from offset #{offset}") { lock.synchronize { !got.empty? && got[-1][0] == last } }
  ch.close
  got
end

def scenario_stream
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.s"
    r = "#{P}.retention"
    with_declared(ch, deletes: [q, r], cleanup_conn: c) do
      ch.queue(q, durable: true, arguments: { 'x-queue-type' => 'stream' })
      ch.queue(r, durable: true, arguments: { 'x-queue-type' => 'stream', 'x-max-length-bytes' => 2000,
                                              'x-stream-max-segment-size-bytes' => 500 })
      ch.confirm_select
      STREAM_COUNT.times { |i| publish_confirmed(ch, q, stream_body(i)) }
      RETENTION_COUNT.times { |i| publish_confirmed(ch, r, retention_body(i)) }
      want = (0...STREAM_COUNT).map { |i| stream_body(i) }
      first = read_stream(c, q, 'first', want[-1])
      eq('bodies read from first', first.map(&:first), want)
      offsets = first.map(&:last)
      check(offsets.each_cons(2).all? { |a, b| b > a }, "x-stream-offset not increasing: #{offsets}")
      saved = read_stream(c, q, offsets[STREAM_SAVED], want[-1])
      eq("bodies read from offset #{offsets[STREAM_SAVED]}", saved.map(&:first), want[STREAM_SAVED..])
      kept = read_stream(c, r, 'first', retention_body(RETENTION_COUNT - 1)).map(&:first)
      check(kept.size < RETENTION_COUNT && kept[0] != retention_body(0),
            "retention dropped nothing: #{kept.size} of #{RETENTION_COUNT} messages still there")
      "offsets #{offsets[0]}..#{offsets[-1]}; retention kept #{kept.size} of #{RETENTION_COUNT}"
    end
  end
end

def scenario_quorum
  with_conn do |c|
    ch = c.create_channel
    q = "#{P}.qq"
    dlq = "#{P}.dlq"
    with_declared(ch, queues: [dlq], deletes: [q], cleanup_conn: c) do
      ch.queue(q, durable: true, arguments: { 'x-queue-type' => 'quorum', 'x-delivery-limit' => DELIVERY_LIMIT,
                                              'x-dead-letter-exchange' => '', 'x-dead-letter-routing-key' => dlq })
      ch.confirm_select
      publish_confirmed(ch, q, 'poison')
      cch = c.create_channel
      cch.prefetch(1)
      deliveries = 0
      lock = Mutex.new
      cch.basic_consume(q, cch.generate_consumer_tag, false) do |info, _, _|
        lock.synchronize { deliveries += 1 }
        cch.reject(info.delivery_tag, true)
      end
      dead = nil
      until_true('the message in the dead-letter queue') { (dead = ch.basic_get(dlq, manual_ack: false))[0] }
      _, props, body = dead
      eq('deliveries before dead-lettering', lock.synchronize { deliveries }, DELIVERY_LIMIT + 1)
      eq('dead-lettered body', body, 'poison')
      death = ((props[:headers] || {})['x-death'] || [])[0]  # basic_get gives the properties as a Hash
      check(death, 'no x-death header')
      eq('x-death reason and queue', [death['reason'], death['queue']], ['delivery_limit', q])
      "#{deliveries} deliveries, then dead-lettered (delivery_limit)"
    end
  end
end

def emit(result, detail)
  puts JSON.generate(scenario: SCENARIO, result: result, detail: detail.to_s)
  $stdout.flush
  exit!({ 'pass' => 0, 'fail' => 1, 'n/a' => 3 }[result])
end

method_name = "scenario_#{SCENARIO.tr('-', '_')}"
emit('fail', "scenario #{SCENARIO} not implemented by this client") unless respond_to?(method_name, true)
Thread.new do
  sleep 60
  emit('fail', 'timed out after 60 s')
end
begin
  emit('pass', send(method_name))
rescue Fail => e
  emit('fail', e.message)
rescue StandardError => e
  warn e.full_message
  emit('fail', "#{e.class}: #{e.message}")
end
