// Interop client: the RabbitMQ Java client (Debian's librabbitmq-client-java).
// Usage: java -cp amqp-client.jar:slf4j-api.jar:slf4j-nop.jar:. InteropClient URL SCENARIO PREFIX
// Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
import com.rabbitmq.client.*;

import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.concurrent.*;

public class InteropClient {
    static String url, scenario, p;

    static class Fail extends Exception {
        Fail(String m) { super(m); }
    }

    static class Delivery {
        final Envelope env; final AMQP.BasicProperties props; final byte[] body;
        Delivery(Envelope e, AMQP.BasicProperties pr, byte[] b) { env = e; props = pr; body = b; }
        String text() { return new String(body, StandardCharsets.UTF_8); }
    }

    // ---- fixtures, the same in every language (see interop/python/common.py)
    static final byte[] BODY = new byte[256];
    static { for (int i = 0; i < 256; i++) BODY[i] = (byte) i; }
    static final int LARGE = 5 * 1024 * 1024;
    static final List<String> TOPIC_KEYS = List.of("orders.new.eu", "orders.new.us", "orders", "invoices.new.eu", "orders.new.eu.extra");

    static Map<String, Object> headers() {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("str", "text"); h.put("int", 42); h.put("neg", -7); h.put("big", 10000000000L); h.put("bool", true);
        h.put("nested", Map.of("level", 2, "inner", Map.of("deep", "yes")));
        h.put("list", List.of(1, "two", Map.of("three", 3)));
        return h;
    }

    static String user() throws Exception {
        String ui = new URI(url).getRawUserInfo();
        return ui == null ? "guest" : URLDecoder.decode(ui.split(":", 2)[0], StandardCharsets.UTF_8);
    }

    static AMQP.BasicProperties fullProps() throws Exception {
        return new AMQP.BasicProperties.Builder()
                .contentType("application/octet-stream").contentEncoding("identity").headers(headers())
                .deliveryMode(2).priority(5).correlationId("corr-1").replyTo("reply-here").expiration("60000")
                .messageId("msg-1").timestamp(new Date(1700000000L * 1000)).type("interop.test")
                .userId(user()).appId("interop").clusterId("cluster-1").build();
    }

    static Map<String, Object> queueArgs() {
        Map<String, Object> a = new HashMap<>();
        a.put("x-message-ttl", 60000); a.put("x-max-length", 100); a.put("x-max-priority", 10);
        a.put("x-dead-letter-exchange", p + ".fanout");
        return a;
    }

    static byte[] largeBody() {
        byte[] b = new byte[LARGE];
        for (int i = 0; i < LARGE; i++) b[i] = (byte) (i % 251);
        return b;
    }

    // ---- helpers
    static void check(boolean cond, String msg) throws Fail { if (!cond) throw new Fail(msg); }

    static void eq(String what, Object got, Object want) throws Fail {
        if (!Objects.equals(normalize(got), normalize(want)))
            throw new Fail(what + ": got " + got + ", want " + want);
    }

    /** LongString -> String, numbers of any width compared as long, recursively. */
    static Object normalize(Object v) {
        if (v instanceof LongString) return v.toString();
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) return ((Number) v).longValue();
        if (v instanceof Map) {
            Map<String, Object> m = new TreeMap<>();
            ((Map<?, ?>) v).forEach((k, x) -> m.put(k.toString(), normalize(x)));
            return m;
        }
        if (v instanceof List) {
            List<Object> l = new ArrayList<>();
            for (Object x : (List<?>) v) l.add(normalize(x));
            return l;
        }
        return v;
    }

    interface Cond { boolean ok() throws Exception; }

    static void until(Cond c, String what, long ms) throws Exception {
        long end = System.currentTimeMillis() + ms;
        while (!c.ok()) {
            if (System.currentTimeMillis() > end) throw new Fail("timed out waiting for " + what);
            Thread.sleep(10);
        }
    }

    static Connection connect(String u, int heartbeat) throws Exception {
        ConnectionFactory f = new ConnectionFactory();
        f.setUri(u);
        // the AMQP URI spec reads "amqp://host/" as the empty vhost; like most clients, mean "/"
        if (f.getVirtualHost().isEmpty()) f.setVirtualHost("/");
        f.setAutomaticRecoveryEnabled(false);
        if (heartbeat >= 0) f.setRequestedHeartbeat(heartbeat);
        return f.newConnection();
    }

    static Connection connect() throws Exception { return connect(url, -1); }

    static List<Delivery> consume(Channel ch, String q, boolean autoAck, List<Delivery> into) throws IOException {
        ch.basicConsume(q, autoAck, new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body) {
                into.add(new Delivery(env, props, body));
            }
        });
        return into;
    }

    static List<String> drain(Channel ch, String q) throws IOException {
        List<String> out = new ArrayList<>();
        for (GetResponse r; (r = ch.basicGet(q, true)) != null; ) out.add(new String(r.getBody(), StandardCharsets.UTF_8));
        return out;
    }

    static int count(Channel ch, String q) throws IOException { return ch.queueDeclarePassive(q).getMessageCount(); }

    static int channelCloseCode(IOException e) {
        if (e.getCause() instanceof ShutdownSignalException) {
            Object reason = ((ShutdownSignalException) e.getCause()).getReason();
            if (reason instanceof AMQP.Channel.Close) return ((AMQP.Channel.Close) reason).getReplyCode();
        }
        return -1;
    }

    static Channel declareQueue(Channel ch, String q) throws IOException {
        ch.queueDeclare(q, false, false, false, null);
        return ch;
    }

    /** What a scenario declares on ch, deleted again when its try-with-resources block ends,
     *  however it ends: the queues first, then the exchanges. */
    static final class Declared implements AutoCloseable {
        final Channel ch;
        final List<String> queues = new ArrayList<>(), exchanges = new ArrayList<>();

        Declared(Channel ch) { this.ch = ch; }

        Declared exchange(String name, String kind) throws IOException {
            ch.exchangeDeclare(name, kind, false, false, null);
            exchanges.add(name);
            return this;
        }

        Declared queue(String name) throws IOException {
            declareQueue(ch, name);
            queues.add(name);
            return this;
        }

        /** A queue the scenario declares itself (how is what it checks), deleted all the same. */
        Declared deletesQueue(String name) { queues.add(name); return this; }

        Declared deletesExchange(String name) { exchanges.add(name); return this; }

        @Override public void close() throws IOException {
            for (String q : queues) ch.queueDelete(q);
            for (String x : exchanges) ch.exchangeDelete(x);
        }
    }

    static Declared declared(Channel ch) { return new Declared(ch); }

    // ---- scenarios
    static String connectOk() throws Exception {
        try (Connection c = connect()) {
            c.createChannel().close();
            Map<String, Object> sp = c.getServerProperties();
            return "server " + sp.get("product") + " " + sp.get("version");
        }
    }

    static String badPassword() throws Exception {
        URI u = new URI(url);
        String wrong = new URI(u.getScheme(), user() + ":wrong-password", u.getHost(), u.getPort(), u.getPath(), u.getQuery(), null).toString();
        try (Connection c = connect(wrong, -1)) {
            throw new Fail("connection with a wrong password was accepted");
        } catch (AuthenticationFailureException e) {
            return "refused: " + e.getClass().getSimpleName() + ": " + e.getMessage();
        }
    }

    static String declare() throws Exception {
        String[] kinds = {"direct", "fanout", "topic", "headers"};
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).deletesQueue(p + ".q")) {
            Channel ch = cleanup.ch;
            for (String k : kinds) cleanup.exchange(p + "." + k, k);
            AMQP.Queue.DeclareOk ok = ch.queueDeclare(p + ".q", false, false, false, queueArgs());
            eq("declare-ok", List.of(ok.getQueue(), ok.getMessageCount()), List.of(p + ".q", 0));
            ch.queueDeclare(p + ".q", false, false, false, queueArgs());
            ch.queueDeclarePassive(p + ".q");
            for (String k : List.of("direct", "fanout", "topic")) ch.queueBind(p + ".q", p + "." + k, "k");
            ch.queueBind(p + ".q", p + ".headers", "", Map.of("x-match", "all", "h", "v"));
            ch.basicPublish(p + ".headers", "", new AMQP.BasicProperties.Builder().headers(Map.of("h", "other")).build(), "other".getBytes());
            ch.basicPublish(p + ".headers", "", new AMQP.BasicProperties.Builder().headers(Map.of("h", "v")).build(), "match".getBytes());
            eq("routed by the headers exchange", drain(ch, p + ".q"), List.of("match"));
            String anon = ch.queueDeclare().getQueue();
            check(anon.startsWith("amq.gen-"), "server-named queue " + anon);
        }
        return "";
    }

    static String roundtrip() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            AMQP.BasicProperties want = fullProps();
            ch.basicPublish("", q, want, BODY);
            List<Delivery> got = consume(ch, q, false, new CopyOnWriteArrayList<>());
            until(() -> !got.isEmpty(), "delivery", 10000);
            Delivery d = got.get(0);
            check(Arrays.equals(d.body, BODY), "body differs");
            AMQP.BasicProperties g = d.props;
            eq("content_type", g.getContentType(), want.getContentType());
            eq("content_encoding", g.getContentEncoding(), want.getContentEncoding());
            eq("headers", g.getHeaders(), want.getHeaders());
            eq("delivery_mode", g.getDeliveryMode(), want.getDeliveryMode());
            eq("priority", g.getPriority(), want.getPriority());
            eq("correlation_id", g.getCorrelationId(), want.getCorrelationId());
            eq("reply_to", g.getReplyTo(), want.getReplyTo());
            eq("expiration", g.getExpiration(), want.getExpiration());
            eq("message_id", g.getMessageId(), want.getMessageId());
            eq("timestamp", g.getTimestamp(), want.getTimestamp());
            eq("type", g.getType(), want.getType());
            eq("user_id", g.getUserId(), want.getUserId());
            eq("app_id", g.getAppId(), want.getAppId());
            eq("cluster_id", g.getClusterId(), want.getClusterId());
            eq("delivery", List.of(d.env.getExchange(), d.env.getRoutingKey(), d.env.isRedeliver()), List.of("", q, false));
            ch.basicAck(d.env.getDeliveryTag(), false);
        }
        return "";
    }

    static String topic() throws Exception {
        try (Connection c = connect();
             Declared cleanup = declared(c.createChannel()).exchange(p + ".x", "topic").queue(p + ".q1").queue(p + ".q2")) {
            Channel ch = cleanup.ch;
            ch.queueBind(p + ".q1", p + ".x", "orders.*.eu");
            ch.queueBind(p + ".q2", p + ".x", "orders.#");
            for (String k : TOPIC_KEYS) ch.basicPublish(p + ".x", k, null, k.getBytes());
            eq("q1", drain(ch, p + ".q1"), List.of("orders.new.eu"));
            eq("q2", drain(ch, p + ".q2"), List.of("orders.new.eu", "orders.new.us", "orders", "orders.new.eu.extra"));
        }
        return "";
    }

    static String fanout() throws Exception {
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).exchange(p + ".x", "fanout")) {
            Channel ch = cleanup.ch;
            for (int i = 0; i < 3; i++) {
                cleanup.queue(p + ".q" + i);
                ch.queueBind(p + ".q" + i, p + ".x", "key" + i);
            }
            ch.basicPublish(p + ".x", "anything", null, "to all".getBytes());
            for (int i = 0; i < 3; i++) eq(p + ".q" + i, drain(ch, p + ".q" + i), List.of("to all"));
        }
        return "";
    }

    static String workQueue() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            for (int i = 0; i < 10; i++) ch.basicPublish("", q, null, String.valueOf(i).getBytes());
            Channel slowCh = c.createChannel(), fastCh = c.createChannel();
            slowCh.basicQos(1);
            List<Delivery> slow = consume(slowCh, q, false, new CopyOnWriteArrayList<>());
            until(() -> !slow.isEmpty(), "first delivery to the slow consumer", 10000);
            fastCh.basicQos(1);
            List<String> fast = new CopyOnWriteArrayList<>();
            fastCh.basicConsume(q, false, new DefaultConsumer(fastCh) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties pr, byte[] body) throws IOException {
                    fast.add(new String(body, StandardCharsets.UTF_8));
                    fastCh.basicAck(env.getDeliveryTag(), false);
                }
            });
            until(() -> fast.size() >= 9, "9 deliveries to the fast consumer", 10000);
            Thread.sleep(200);
            eq("slow consumer (prefetch 1, never acks) got", List.of(slow.get(0).text(), slow.size()), List.of("0", 1));
            eq("fast consumer got", fast, List.of("1", "2", "3", "4", "5", "6", "7", "8", "9"));
            slowCh.basicAck(slow.get(0).env.getDeliveryTag(), false);
            Thread.sleep(100);
            eq("left in queue", count(ch, q), 0);
        }
        return "";
    }

    // ---- stream and quorum (see python/common.py)
    static final int STREAM_COUNT = 10, STREAM_SAVED = 5, RETENTION_COUNT = 100, RETENTION_SIZE = 100, DELIVERY_LIMIT = 2;

    static String streamBody(int i) { return "s" + i; }

    static String retentionBody(int i) {
        StringBuilder b = new StringBuilder(String.format("r%03d", i));
        while (b.length() < RETENTION_SIZE) b.append('.');
        return b.toString();
    }

    static Map<String, Object> streamArgs(boolean retention) {
        Map<String, Object> a = new HashMap<>();
        a.put("x-queue-type", "stream");
        if (retention) { a.put("x-max-length-bytes", 2000); a.put("x-stream-max-segment-size-bytes", 500); }
        return a;
    }

    /** Consumes the stream from x-stream-offset with prefetch: {body, offset header} up to body last. */
    static List<Object[]> readStream(Connection c, String q, Object offset, String last) throws Exception {
        Channel ch = c.createChannel();
        ch.basicQos(RETENTION_COUNT);
        List<Object[]> got = new CopyOnWriteArrayList<>();
        ch.basicConsume(q, false, "", false, false, Map.of("x-stream-offset", offset), new DefaultConsumer(ch) {
            @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                    throws IOException {
                got.add(new Object[] {new String(body, StandardCharsets.UTF_8), props.getHeaders().get("x-stream-offset")});
                ch.basicAck(env.getDeliveryTag(), false);
            }
        });
        until(() -> !got.isEmpty() && got.get(got.size() - 1)[0].equals(last), last + " from offset " + offset, 10000);
        ch.close();
        return got;
    }

    static List<String> bodies(List<Object[]> got) {
        List<String> out = new ArrayList<>();
        for (Object[] g : got) out.add((String) g[0]);
        return out;
    }

    static String stream() throws Exception {
        String q = p + ".s", r = p + ".retention";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).deletesQueue(q).deletesQueue(r)) {
            Channel ch = cleanup.ch;
            ch.queueDeclare(q, true, false, false, streamArgs(false));
            ch.queueDeclare(r, true, false, false, streamArgs(true));
            ch.confirmSelect();
            for (int i = 0; i < STREAM_COUNT; i++) {
                ch.basicPublish("", q, MessageProperties.PERSISTENT_BASIC, streamBody(i).getBytes());
                ch.waitForConfirmsOrDie(10000);
            }
            for (int i = 0; i < RETENTION_COUNT; i++) {
                ch.basicPublish("", r, MessageProperties.PERSISTENT_BASIC, retentionBody(i).getBytes());
                ch.waitForConfirmsOrDie(10000);
            }
            String last = streamBody(STREAM_COUNT - 1);
            List<Object[]> first = readStream(c, q, "first", last);
            List<String> want = new ArrayList<>();
            for (int i = 0; i < STREAM_COUNT; i++) want.add(streamBody(i));
            eq("bodies read from first", bodies(first), want);
            List<Long> offsets = new ArrayList<>();
            for (Object[] g : first) offsets.add(((Number) g[1]).longValue());
            for (int i = 1; i < offsets.size(); i++) check(offsets.get(i) > offsets.get(i - 1), "x-stream-offset not increasing: " + offsets);
            List<Object[]> saved = readStream(c, q, offsets.get(STREAM_SAVED), last);
            eq("bodies read from offset " + offsets.get(STREAM_SAVED), bodies(saved), want.subList(STREAM_SAVED, STREAM_COUNT));
            List<String> kept = bodies(readStream(c, r, "first", retentionBody(RETENTION_COUNT - 1)));
            check(kept.size() < RETENTION_COUNT && !kept.get(0).equals(retentionBody(0)),
                  "retention dropped nothing: " + kept.size() + " of " + RETENTION_COUNT + " messages still there");
            return "offsets " + offsets.get(0) + ".." + offsets.get(offsets.size() - 1) + "; retention kept "
                    + kept.size() + " of " + RETENTION_COUNT;
        }
    }

    static String quorum() throws Exception {
        String q = p + ".qq", dlq = p + ".dlq";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(dlq).deletesQueue(q)) {
            Channel ch = cleanup.ch;
            Map<String, Object> args = new HashMap<>();
            args.put("x-queue-type", "quorum"); args.put("x-delivery-limit", DELIVERY_LIMIT);
            args.put("x-dead-letter-exchange", ""); args.put("x-dead-letter-routing-key", dlq);
            ch.queueDeclare(q, true, false, false, args);
            ch.confirmSelect();
            ch.basicPublish("", q, MessageProperties.PERSISTENT_BASIC, "poison".getBytes());
            ch.waitForConfirmsOrDie(10000);
            Channel cch = c.createChannel();
            cch.basicQos(1);
            List<Integer> deliveries = new CopyOnWriteArrayList<>();
            cch.basicConsume(q, false, new DefaultConsumer(cch) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties props, byte[] body)
                        throws IOException {
                    deliveries.add(1);
                    cch.basicReject(env.getDeliveryTag(), true);
                }
            });
            GetResponse[] dead = new GetResponse[1];
            until(() -> (dead[0] = ch.basicGet(dlq, true)) != null, "the message in the dead-letter queue", 10000);
            eq("deliveries before dead-lettering", deliveries.size(), DELIVERY_LIMIT + 1);
            eq("dead-lettered body", new String(dead[0].getBody(), StandardCharsets.UTF_8), "poison");
            Map<String, Object> headers = dead[0].getProps().getHeaders();
            List<?> xDeath = headers == null ? null : (List<?>) headers.get("x-death");
            check(xDeath != null && !xDeath.isEmpty(), "no x-death header");
            Map<?, ?> death = (Map<?, ?>) xDeath.get(0);
            eq("x-death reason and queue", List.of(String.valueOf(death.get("reason")), String.valueOf(death.get("queue"))),
               List.of("delivery_limit", q));
            return deliveries.size() + " deliveries, then dead-lettered (delivery_limit)";
        }
    }

    static String ackNackReject() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            for (String b : List.of("ack", "nack", "reject")) ch.basicPublish("", q, null, b.getBytes());
            Channel cch = c.createChannel();
            cch.basicQos(10);
            List<Delivery> got = consume(cch, q, false, new CopyOnWriteArrayList<>());
            until(() -> got.size() >= 3, "3 deliveries", 10000);
            eq("first deliveries", List.of(got.get(0).text(), got.get(1).text(), got.get(2).text()), List.of("ack", "nack", "reject"));
            cch.basicAck(got.get(0).env.getDeliveryTag(), false);
            cch.basicNack(got.get(1).env.getDeliveryTag(), false, true);
            cch.basicReject(got.get(2).env.getDeliveryTag(), false);
            until(() -> got.size() >= 4, "redelivery after nack", 10000);
            eq("redelivery", List.of(got.get(3).text(), got.get(3).env.isRedeliver()), List.of("nack", true));
            cch.basicAck(got.get(3).env.getDeliveryTag(), false);
            Thread.sleep(200);
            eq("deliveries", got.size(), 4);
            eq("left in queue", count(ch, q), 0);
        }
        return "";
    }

    static String basicGet() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            ch.basicPublish("", q, null, "one".getBytes());
            ch.basicPublish("", q, null, "two".getBytes());
            GetResponse r = ch.basicGet(q, false);
            eq("first get", List.of(new String(r.getBody()), r.getMessageCount(), r.getEnvelope().isRedeliver()), List.of("one", 1, false));
            ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            r = ch.basicGet(q, false);
            eq("second get", List.of(new String(r.getBody()), r.getMessageCount()), List.of("two", 0));
            ch.basicReject(r.getEnvelope().getDeliveryTag(), true);
            r = ch.basicGet(q, false);
            eq("get after reject", List.of(new String(r.getBody()), r.getEnvelope().isRedeliver()), List.of("two", true));
            ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            check(ch.basicGet(q, false) == null, "get on the empty queue returned a message");
        }
        return "";
    }

    static String confirms() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            ch.confirmSelect();
            for (int i = 0; i < 50; i++) ch.basicPublish("", q, null, String.valueOf(i).getBytes());
            ch.waitForConfirmsOrDie(10000);     // throws on a nack or a timeout
            eq("queued", count(ch, q), 50);
        }
        return "";
    }

    static String mandatoryReturn() throws Exception {
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).exchange(p + ".x", "direct")) {
            Channel ch = cleanup.ch;
            List<List<Object>> returned = new CopyOnWriteArrayList<>();
            ch.addReturnListener(new ReturnListener() {
                @Override public void handleReturn(int code, String text, String exchange, String key, AMQP.BasicProperties pr, byte[] body) {
                    returned.add(List.of(code, text, exchange, key, new String(body, StandardCharsets.UTF_8)));
                }
            });
            ch.basicPublish(p + ".x", "nowhere", true, null, "bounce".getBytes());
            until(() -> !returned.isEmpty(), "basic.return", 10000);
            eq("return", returned.get(0), List.of(312, "NO_ROUTE", p + ".x", "nowhere", "bounce"));
        }
        return "";
    }

    static String rpc() throws Exception {
        String q = p + ".requests";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel server = cleanup.ch, client = c.createChannel();
            server.basicConsume(q, false, new DefaultConsumer(server) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties pr, byte[] body) throws IOException {
                    server.basicPublish("", pr.getReplyTo(), new AMQP.BasicProperties.Builder().correlationId(pr.getCorrelationId()).build(),
                            new String(body, StandardCharsets.UTF_8).toUpperCase().getBytes());
                    server.basicAck(env.getDeliveryTag(), false);
                }
            });
            String callback = client.queueDeclare().getQueue();
            Map<String, String> replies = new ConcurrentHashMap<>();
            client.basicConsume(callback, true, new DefaultConsumer(client) {
                @Override public void handleDelivery(String tag, Envelope env, AMQP.BasicProperties pr, byte[] body) {
                    replies.put(pr.getCorrelationId(), new String(body, StandardCharsets.UTF_8));
                }
            });
            Map<String, String> want = new HashMap<>();
            for (String w : List.of("alpha", "beta", "gamma")) {
                String cid = UUID.randomUUID().toString();
                want.put(cid, w.toUpperCase());
                client.basicPublish("", q, new AMQP.BasicProperties.Builder().replyTo(callback).correlationId(cid).build(), w.getBytes());
            }
            until(() -> replies.size() >= 3, "3 replies", 10000);
            eq("replies by correlation_id", new TreeMap<>(replies), new TreeMap<>(want));
        }
        return "";
    }

    static String tx() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            ch.txSelect();
            ch.basicPublish("", q, null, "rolled back".getBytes());
            ch.txRollback();
            eq("after rollback", count(ch, q), 0);
            ch.basicPublish("", q, null, "committed".getBytes());
            eq("before commit", count(ch, q), 0);
            ch.txCommit();
            eq("after commit", count(ch, q), 1);
            GetResponse r = ch.basicGet(q, false);
            eq("body", new String(r.getBody()), "committed");
            ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            ch.txCommit();
            eq("after acked commit", count(ch, q), 0);
        }
        return "";
    }

    static String consumerCancel() throws Exception {
        try (Connection c = connect()) {
            String q = p + ".q";
            Channel ch = declareQueue(c.createChannel(), q);
            List<String> cancelled = new CopyOnWriteArrayList<>();
            String tag = ch.basicConsume(q, false, new DefaultConsumer(ch) {
                @Override public void handleCancel(String consumerTag) { cancelled.add(consumerTag); }
            });
            c.createChannel().queueDelete(q);
            until(() -> !cancelled.isEmpty(), "basic.cancel from the server", 5000);
            eq("cancelled consumer tag", cancelled.get(0), tag);
            check(ch.isOpen(), "channel closed after the server cancelled its consumer");
            ch.queueDeclare();
        }
        return "";
    }

    static String largeMessage() throws Exception {
        String q = p + ".q";
        try (Connection c = connect(); Declared cleanup = declared(c.createChannel()).queue(q)) {
            Channel ch = cleanup.ch;
            byte[] body = largeBody();
            ch.basicPublish("", q, null, body);
            List<Delivery> got = consume(ch, q, true, new CopyOnWriteArrayList<>());
            until(() -> !got.isEmpty(), "the 5 MiB delivery", 30000);
            eq("size", got.get(0).body.length, LARGE);
            check(Arrays.equals(got.get(0).body, body), "body differs");
        }
        return "";
    }

    static String heartbeat() throws Exception {
        try (Connection c = connect(url, 1)) {
            eq("negotiated heartbeat", c.getHeartbeat(), 1);
            Channel ch = c.createChannel();
            Thread.sleep(3000);              // the client's heartbeat sender thread keeps it alive
            String q = ch.queueDeclare().getQueue();
            ch.basicPublish("", q, null, "still alive".getBytes());
            eq("after idle", new String(ch.basicGet(q, true).getBody()), "still alive");
        }
        return "negotiated 1 s, idle 3 s, connection alive";
    }

    static String channelError() throws Exception {
        try (Connection c = connect()) {
            Channel ch = c.createChannel();
            String detail;
            try {
                ch.queueDeclarePassive(p + ".missing");
                throw new Fail("passive declare of a missing queue succeeded");
            } catch (IOException e) {
                eq("reply code", channelCloseCode(e), 404);
                detail = e.getCause().getMessage();
            }
            check(!ch.isOpen(), "channel still open");
            check(c.isOpen(), "connection closed");
            c.createChannel().queueDeclare();
            return detail;
        }
    }

    static String persistPublish() throws Exception {
        try (Connection c = connect()) {
            Channel ch = c.createChannel();
            ch.exchangeDeclare(p + ".x", "direct", true, false, null);
            ch.queueDeclare(p + ".q", true, false, false, null);
            ch.queueBind(p + ".q", p + ".x", "k");
            ch.queueDeclare(p + ".transient-q", false, false, false, null);
            ch.confirmSelect();
            ch.basicPublish(p + ".x", "k", MessageProperties.PERSISTENT_BASIC, "persisted".getBytes());
            ch.basicPublish(p + ".x", "k", MessageProperties.BASIC, "transient".getBytes());
            ch.waitForConfirmsOrDie(10000);
        }
        return "";
    }

    static String persistCheck() throws Exception {
        // the cleanup has a channel of its own: a failed check may close the one it uses
        try (Connection c = connect();
             Declared cleanup = declared(c.createChannel())
                     .deletesQueue(p + ".q").deletesQueue(p + ".transient-q").deletesExchange(p + ".x")) {
            Channel ch = c.createChannel();
            eq("messages in the durable queue after restart", count(ch, p + ".q"), 1);
            GetResponse r = ch.basicGet(p + ".q", false);
            eq("message", List.of(new String(r.getBody()), r.getProps().getDeliveryMode()), List.of("persisted", 2));
            ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
            ch.basicPublish(p + ".x", "k", null, "via binding".getBytes());
            check(ch.basicGet(p + ".q", true) != null, "the durable binding did not survive the restart");
            try {
                c.createChannel().queueDeclarePassive(p + ".transient-q");
                throw new Fail("the non-durable queue survived the restart");
            } catch (IOException e) {
                eq("passive declare of the non-durable queue", channelCloseCode(e), 404);
            }
        }
        return "";
    }

    static String json(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char ch : s.toCharArray()) {
            if (ch == '"' || ch == '\\') b.append('\\').append(ch);
            else if (ch < 0x20) b.append(String.format("\\u%04x", (int) ch));
            else b.append(ch);
        }
        return b.append('"').toString();
    }

    static void emit(String result, String detail) {
        System.out.println("{\"scenario\": " + json(scenario) + ", \"result\": " + json(result) + ", \"detail\": " + json(detail) + "}");
        System.out.flush();
        Runtime.getRuntime().halt(result.equals("pass") ? 0 : result.equals("fail") ? 1 : 3);
    }

    interface Scenario { String run() throws Exception; }

    public static void main(String[] args) {
        url = args[0]; scenario = args[1];
        p = args[2] + "." + (scenario.startsWith("persist-") ? "persist" : scenario);
        Map<String, Scenario> s = new HashMap<>();
        s.put("connect", InteropClient::connectOk); s.put("bad-password", InteropClient::badPassword);
        s.put("declare", InteropClient::declare); s.put("roundtrip", InteropClient::roundtrip);
        s.put("topic", InteropClient::topic); s.put("fanout", InteropClient::fanout);
        s.put("work-queue", InteropClient::workQueue); s.put("ack-nack-reject", InteropClient::ackNackReject);
        s.put("basic-get", InteropClient::basicGet); s.put("confirms", InteropClient::confirms);
        s.put("mandatory-return", InteropClient::mandatoryReturn); s.put("rpc", InteropClient::rpc);
        s.put("tx", InteropClient::tx); s.put("consumer-cancel", InteropClient::consumerCancel);
        s.put("large-message", InteropClient::largeMessage); s.put("heartbeat", InteropClient::heartbeat);
        s.put("channel-error", InteropClient::channelError); s.put("persist-publish", InteropClient::persistPublish);
        s.put("persist-check", InteropClient::persistCheck);
        s.put("stream", InteropClient::stream); s.put("quorum", InteropClient::quorum);
        Scenario fn = s.get(scenario);
        if (fn == null) emit("fail", "scenario " + scenario + " not implemented by this client");
        Thread watchdog = new Thread(() -> {
            try { Thread.sleep(60000); emit("fail", "timed out after 60 s"); } catch (InterruptedException ignored) { }
        });
        watchdog.setDaemon(true);
        watchdog.start();
        try {
            emit("pass", fn.run());
        } catch (Fail f) {
            emit("fail", f.getMessage());
        } catch (Throwable t) {
            t.printStackTrace();
            emit("fail", t.getClass().getName() + ": " + t.getMessage()
                    + (t.getCause() != null ? " (cause: " + t.getCause().getMessage() + ")" : ""));
        }
    }
}
