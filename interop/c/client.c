/* Interop client: rabbitmq-c (Debian's librabbitmq-dev).
 * Usage: interop-c URL SCENARIO PREFIX
 * Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
 * Everything it declares is recorded and deleted at exit over a fresh connection, pass or fail
 * (except after a passing persist-publish, whose queue must outlive the broker restart). */
#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *url, *scenario;
static char P[512];

/* ---- result line and cleanup */
static char declared_queues[16][600], declared_exchanges[16][600];
static int n_queues, n_exchanges, keep_declared;

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') printf("\\%c", c);
    else if (c < 0x20 || c >= 0x7f) printf("\\u%04x", c);
    else putchar(c);
  }
  putchar('"');
}

static void cleanup(void);

static void emit(const char *result, const char *detail) {
  if (!keep_declared) cleanup();
  printf("{\"scenario\": ");
  json_string(scenario);
  printf(", \"result\": ");
  json_string(result);
  printf(", \"detail\": ");
  json_string(detail);
  printf("}\n");
  fflush(stdout);
  exit(strcmp(result, "pass") == 0 ? 0 : strcmp(result, "fail") == 0 ? 1 : 3);
}

static void fail(const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  keep_declared = 0;
  emit("fail", buf);
}

#define CHECK(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

static char *name(const char *suffix) { /* P.suffix, in a small ring of buffers */
  static char ring[8][600];
  static int i;
  char *b = ring[i++ % 8];
  snprintf(b, 600, "%s.%s", P, suffix);
  return b;
}

/* ---- connection helpers */
static const char *reply_text(amqp_rpc_reply_t r, int *code) {
  static char buf[1024];
  *code = 0;
  switch (r.reply_type) {
  case AMQP_RESPONSE_NORMAL: return "ok";
  case AMQP_RESPONSE_NONE: return "no reply";
  case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
  case AMQP_RESPONSE_SERVER_EXCEPTION:
    if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
      amqp_connection_close_t *m = r.reply.decoded;
      *code = m->reply_code;
      snprintf(buf, sizeof buf, "connection.close %d %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
      amqp_channel_close_t *m = r.reply.decoded;
      *code = m->reply_code;
      snprintf(buf, sizeof buf, "channel.close %d %.*s", m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else {
      snprintf(buf, sizeof buf, "server exception, method 0x%08x", r.reply.id);
    }
    return buf;
  }
  return "?";
}

static void ok_or_die(amqp_connection_state_t c, const char *what) {
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  int code;
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("%s: %s", what, reply_text(r, &code));
}

static void status_or_die(int status, const char *what) {
  if (status != AMQP_STATUS_OK) fail("%s: %s", what, amqp_error_string2(status));
}

/* Connect and log in. consumer_cancel_notify is announced as a capability: rabbitmq-c announces
 * only authentication_failure_close by itself, and a broker sends basic.cancel only to clients
 * that ask for it. Returns NULL and fills *err on a refused login. */
static amqp_connection_state_t try_connect(const char *u, int heartbeat, amqp_rpc_reply_t *err) {
  char *copy = strdup(u);
  struct amqp_connection_info ci;
  amqp_default_connection_info(&ci);
  if (amqp_parse_url(copy, &ci) != AMQP_STATUS_OK) fail("bad URL %s", u);
  /* the AMQP URI spec reads "amqp://host/" as the empty vhost; like most clients, mean "/" */
  const char *vhost = (ci.vhost == NULL || ci.vhost[0] == '\0') ? "/" : ci.vhost;
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t *s;
  if (ci.ssl) { /* amqps: the server certificate and host name are verified, against SSL_CERT_FILE if set */
    s = amqp_ssl_socket_new(c);
    if (s == NULL) fail("amqp_ssl_socket_new failed");
    const char *ca = getenv("SSL_CERT_FILE");
    if (ca != NULL) status_or_die(amqp_ssl_socket_set_cacert(s, ca), "TLS CA file");
  } else {
    s = amqp_tcp_socket_new(c);
  }
  status_or_die(amqp_socket_open(s, ci.host, ci.port), "socket open");

  amqp_table_entry_t cap[] = {{amqp_cstring_bytes("consumer_cancel_notify"), {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}}};
  amqp_table_entry_t props[] = {
      {amqp_cstring_bytes("capabilities"), {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, cap}}}};
  amqp_table_t client_properties = {1, props};
  amqp_rpc_reply_t r = amqp_login_with_properties(c, vhost, 0, 131072, heartbeat, &client_properties,
                                                  AMQP_SASL_METHOD_PLAIN, ci.user, ci.password);
  free(copy);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) {
    *err = r;
    return NULL;
  }
  return c;
}

static amqp_connection_state_t connect_hb(int heartbeat) {
  amqp_rpc_reply_t err;
  amqp_connection_state_t c = try_connect(url, heartbeat, &err);
  int code;
  if (!c) fail("login: %s", reply_text(err, &code));
  return c;
}

static amqp_connection_state_t connect_ok(void) { return connect_hb(0); }

static void open_channel(amqp_connection_state_t c, amqp_channel_t ch) {
  amqp_channel_open(c, ch);
  ok_or_die(c, "channel.open");
}

static void close_conn(amqp_connection_state_t c) {
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

static void declare_queue_args(amqp_connection_state_t c, amqp_channel_t ch, const char *q, int durable, amqp_table_t args) {
  if (n_queues < 16) snprintf(declared_queues[n_queues++], 600, "%s", q);
  amqp_queue_declare(c, ch, amqp_cstring_bytes(q), 0, durable, 0, 0, args);
  ok_or_die(c, "queue.declare");
}

static void declare_queue(amqp_connection_state_t c, amqp_channel_t ch, const char *q, int durable) {
  declare_queue_args(c, ch, q, durable, amqp_empty_table);
}

static void declare_exchange(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *type, int durable) {
  if (n_exchanges < 16) snprintf(declared_exchanges[n_exchanges++], 600, "%s", x);
  amqp_exchange_declare(c, ch, amqp_cstring_bytes(x), amqp_cstring_bytes(type), 0, durable, 0, 0, amqp_empty_table);
  ok_or_die(c, "exchange.declare");
}

static void bind(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *x, const char *key, amqp_table_t args) {
  amqp_queue_bind(c, ch, amqp_cstring_bytes(q), amqp_cstring_bytes(x), amqp_cstring_bytes(key), args);
  ok_or_die(c, "queue.bind");
}

static void cleanup(void) {
  if (n_queues == 0 && n_exchanges == 0) return;
  amqp_rpc_reply_t err;
  amqp_connection_state_t c = try_connect(url, 0, &err);
  if (!c) return;
  amqp_channel_open(c, 1);
  for (int i = 0; i < n_queues; i++) amqp_queue_delete(c, 1, amqp_cstring_bytes(declared_queues[i]), 0, 0);
  for (int i = 0; i < n_exchanges; i++) amqp_exchange_delete(c, 1, amqp_cstring_bytes(declared_exchanges[i]), 0);
  close_conn(c);
  n_queues = n_exchanges = 0;
}

/* How most scenarios start: a connection with channel 1 open and the queue P.suffix declared on
 * it (recorded, so that cleanup() deletes it at exit however the scenario ends); *q is its name. */
static amqp_connection_state_t connect_with_queue(const char *suffix, const char **q) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  *q = name(suffix);
  declare_queue(c, 1, *q, 0);
  return c;
}

/* basic.qos (when prefetch > 0) and basic.consume of q on channel ch; returns the consume-ok. */
static amqp_basic_consume_ok_t *consume(amqp_connection_state_t c, amqp_channel_t ch, const char *q, uint16_t prefetch, int no_ack) {
  if (prefetch > 0) {
    amqp_basic_qos(c, ch, 0, prefetch, 0);
    ok_or_die(c, "basic.qos");
  }
  amqp_basic_consume_ok_t *ok = amqp_basic_consume(c, ch, amqp_cstring_bytes(q), amqp_empty_bytes, 0, no_ack, 0, amqp_empty_table);
  ok_or_die(c, "basic.consume");
  return ok;
}

static int count(amqp_connection_state_t c, amqp_channel_t ch, const char *q) {
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, ch, amqp_cstring_bytes(q), 1, 0, 0, 0, amqp_empty_table);
  ok_or_die(c, "queue.declare passive");
  return (int)ok->message_count;
}

static void publish(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *key, int mandatory,
                    const amqp_basic_properties_t *props, amqp_bytes_t body) {
  status_or_die(amqp_basic_publish(c, ch, amqp_cstring_bytes(x), amqp_cstring_bytes(key), mandatory, 0, props, body), "basic.publish");
}

static void publish_text(amqp_connection_state_t c, amqp_channel_t ch, const char *x, const char *key, const char *text) {
  publish(c, ch, x, key, 0, NULL, amqp_cstring_bytes(text));
}

typedef struct {
  int ok;             /* 0: get-empty */
  char body[256];
  uint64_t tag;
  int redelivered;
  uint32_t message_count;
  int delivery_mode;
} got_t;

static got_t get(amqp_connection_state_t c, amqp_channel_t ch, const char *q, int no_ack) {
  got_t g = {0};
  amqp_rpc_reply_t r = amqp_basic_get(c, ch, amqp_cstring_bytes(q), no_ack);
  int code;
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("basic.get: %s", reply_text(r, &code));
  if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return g;
  amqp_basic_get_ok_t *ok = r.reply.decoded;
  g.ok = 1;
  g.tag = ok->delivery_tag;
  g.redelivered = ok->redelivered;
  g.message_count = ok->message_count;
  amqp_message_t m;
  r = amqp_read_message(c, ch, &m, 0);
  if (r.reply_type != AMQP_RESPONSE_NORMAL) fail("read message: %s", reply_text(r, &code));
  snprintf(g.body, sizeof g.body, "%.*s", (int)m.body.len, (char *)m.body.bytes);
  g.delivery_mode = (m.properties._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) ? m.properties.delivery_mode : 0;
  amqp_destroy_message(&m);
  return g;
}

/* bodies of basic.get until empty, joined with '|' */
static const char *drain(amqp_connection_state_t c, amqp_channel_t ch, const char *q) {
  static char out[2048];
  out[0] = '\0';
  for (got_t g; (g = get(c, ch, q, 1)).ok;) {
    if (out[0]) strcat(out, "|");
    strncat(out, g.body, sizeof out - strlen(out) - 2);
  }
  return out;
}

/* Wait for one delivery on any channel; returns 0 on timeout. Other frames (basic.cancel,
 * basic.return, acks) are handed to *other when given, else the call fails. */
static int next_delivery(amqp_connection_state_t c, amqp_envelope_t *env, int timeout_ms, amqp_frame_t *other, int *got_other) {
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  amqp_maybe_release_buffers(c);
  amqp_rpc_reply_t r = amqp_consume_message(c, env, &tv, 0);
  if (got_other) *got_other = 0;
  if (r.reply_type == AMQP_RESPONSE_NORMAL) return 1;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) return 0;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    amqp_frame_t f;
    status_or_die(amqp_simple_wait_frame(c, &f), "wait frame");
    if (other && got_other) {
      *other = f;
      *got_other = 1;
      return 0;
    }
    fail("unexpected frame: method 0x%08x", f.frame_type == AMQP_FRAME_METHOD ? f.payload.method.id : 0);
  }
  int code;
  fail("consume: %s", reply_text(r, &code));
  return 0;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- the headers fixture: {str, int, neg, big, bool, nested{level, inner{deep}}, list[1, "two", {three}]} */
#define S(k, v) {amqp_cstring_bytes(k), {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {sizeof(v) - 1, (void *)v}}}
#define I32(k, v) {amqp_cstring_bytes(k), {.kind = AMQP_FIELD_KIND_I32, .value.i32 = v}}

static amqp_table_t headers_fixture(void) {
  static amqp_table_entry_t inner[1], nested[2], three[1], top[7];
  static amqp_field_value_t list[3];
  inner[0] = (amqp_table_entry_t)S("deep", "yes");
  nested[0] = (amqp_table_entry_t)I32("level", 2);
  nested[1] = (amqp_table_entry_t){amqp_cstring_bytes("inner"), {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, inner}}};
  three[0] = (amqp_table_entry_t)I32("three", 3);
  list[0] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_I32, .value.i32 = 1};
  list[1] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = {3, (void *)"two"}};
  list[2] = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, three}};
  top[0] = (amqp_table_entry_t)S("str", "text");
  top[1] = (amqp_table_entry_t)I32("int", 42);
  top[2] = (amqp_table_entry_t)I32("neg", -7);
  top[3] = (amqp_table_entry_t){amqp_cstring_bytes("big"), {.kind = AMQP_FIELD_KIND_I64, .value.i64 = 10000000000LL}};
  top[4] = (amqp_table_entry_t){amqp_cstring_bytes("bool"), {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
  top[5] = (amqp_table_entry_t){amqp_cstring_bytes("nested"), {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {2, nested}}};
  top[6] = (amqp_table_entry_t){amqp_cstring_bytes("list"), {.kind = AMQP_FIELD_KIND_ARRAY, .value.array = {3, list}}};
  return (amqp_table_t){7, top};
}

/* Render a field value as canonical text, so a decoded table compares with what was sent. */
static void render_value(char *out, size_t n, const amqp_field_value_t *v);

static void render_table(char *out, size_t n, const amqp_table_t *t) {
  strncat(out, "{", n - strlen(out) - 1);
  for (int i = 0; i < t->num_entries; i++) {
    char key[300];
    snprintf(key, sizeof key, "%s%.*s:", i ? "," : "", (int)t->entries[i].key.len, (char *)t->entries[i].key.bytes);
    strncat(out, key, n - strlen(out) - 1);
    render_value(out, n, &t->entries[i].value);
  }
  strncat(out, "}", n - strlen(out) - 1);
}

static void render_value(char *out, size_t n, const amqp_field_value_t *v) {
  char b[300];
  switch (v->kind) {
  case AMQP_FIELD_KIND_BOOLEAN: snprintf(b, sizeof b, "%s", v->value.boolean ? "true" : "false"); break;
  case AMQP_FIELD_KIND_I8: snprintf(b, sizeof b, "%d", v->value.i8); break;
  case AMQP_FIELD_KIND_U8: snprintf(b, sizeof b, "%u", v->value.u8); break;
  case AMQP_FIELD_KIND_I16: snprintf(b, sizeof b, "%d", v->value.i16); break;
  case AMQP_FIELD_KIND_U16: snprintf(b, sizeof b, "%u", v->value.u16); break;
  case AMQP_FIELD_KIND_I32: snprintf(b, sizeof b, "%d", v->value.i32); break;
  case AMQP_FIELD_KIND_U32: snprintf(b, sizeof b, "%u", v->value.u32); break;
  case AMQP_FIELD_KIND_I64: snprintf(b, sizeof b, "%lld", (long long)v->value.i64); break;
  case AMQP_FIELD_KIND_U64: snprintf(b, sizeof b, "%llu", (unsigned long long)v->value.u64); break;
  case AMQP_FIELD_KIND_UTF8:
  case AMQP_FIELD_KIND_BYTES: snprintf(b, sizeof b, "\"%.*s\"", (int)v->value.bytes.len, (char *)v->value.bytes.bytes); break;
  case AMQP_FIELD_KIND_TABLE: render_table(out, n, &v->value.table); return;
  case AMQP_FIELD_KIND_ARRAY:
    strncat(out, "[", n - strlen(out) - 1);
    for (int i = 0; i < v->value.array.num_entries; i++) {
      if (i) strncat(out, ",", n - strlen(out) - 1);
      render_value(out, n, &v->value.array.entries[i]);
    }
    strncat(out, "]", n - strlen(out) - 1);
    return;
  default: snprintf(b, sizeof b, "<kind %c>", v->kind);
  }
  strncat(out, b, n - strlen(out) - 1);
}

static const char *user_of_url(void) {
  static char user[256];
  char *copy = strdup(url);
  struct amqp_connection_info ci;
  amqp_default_connection_info(&ci);
  amqp_parse_url(copy, &ci);
  snprintf(user, sizeof user, "%s", ci.user);
  free(copy);
  return user;
}

#define B(s) amqp_cstring_bytes(s)
static int bytes_eq(amqp_bytes_t b, const char *s) { return b.len == strlen(s) && memcmp(b.bytes, s, b.len) == 0; }
static int bytes_equal(amqp_bytes_t a, amqp_bytes_t b) { return a.len == b.len && memcmp(a.bytes, b.bytes, a.len) == 0; }

/* ---- scenarios */
static const char *sc_connect(void) {
  static char detail[256];
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  amqp_table_t *sp = amqp_get_server_properties(c);
  char product[100] = "?", version[100] = "?";
  for (int i = 0; i < sp->num_entries; i++) {
    amqp_bytes_t v = sp->entries[i].value.value.bytes;
    if (bytes_eq(sp->entries[i].key, "product")) snprintf(product, sizeof product, "%.*s", (int)v.len, (char *)v.bytes);
    if (bytes_eq(sp->entries[i].key, "version")) snprintf(version, sizeof version, "%.*s", (int)v.len, (char *)v.bytes);
  }
  close_conn(c);
  snprintf(detail, sizeof detail, "server %s %s", product, version);
  return detail;
}

static const char *sc_bad_password(void) {
  static char detail[512];
  char wrong[1024];
  const char *at = strrchr(url, '@');
  const char *scheme_end = strstr(url, "://");
  CHECK(at && scheme_end, "URL without credentials");
  snprintf(wrong, sizeof wrong, "%.*s%s:wrong-password%s", (int)(scheme_end + 3 - url), url, user_of_url(), at);
  amqp_rpc_reply_t err;
  amqp_connection_state_t c = try_connect(wrong, 0, &err);
  if (c) {
    close_conn(c);
    fail("connection with a wrong password was accepted");
  }
  int code;
  const char *text = reply_text(err, &code);
  CHECK(code == 403, "unexpected login failure: %s", text);
  snprintf(detail, sizeof detail, "refused: %s", text);
  return detail;
}

static const char *sc_declare(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  const char *kinds[] = {"direct", "fanout", "topic", "headers"};
  for (int i = 0; i < 4; i++) declare_exchange(c, 1, name(kinds[i]), kinds[i], 0);
  amqp_table_entry_t args[] = {
      I32("x-message-ttl", 60000), I32("x-max-length", 100), I32("x-max-priority", 10),
      {B("x-dead-letter-exchange"), {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = B(name("fanout"))}}};
  amqp_table_t argt = {4, args};
  char q[600];
  snprintf(q, sizeof q, "%s", name("q"));
  declare_queue_args(c, 1, q, 0, argt);
  CHECK(count(c, 1, q) == 0, "declare-ok message_count");
  declare_queue_args(c, 1, q, 0, argt);
  for (int i = 0; i < 3; i++) bind(c, 1, q, name(kinds[i]), "k", amqp_empty_table);
  amqp_table_entry_t hargs[] = {S("x-match", "all"), S("h", "v")};
  bind(c, 1, q, name("headers"), "", (amqp_table_t){2, hargs});
  amqp_table_entry_t h_other[] = {S("h", "other")}, h_v[] = {S("h", "v")};
  amqp_basic_properties_t p1 = {._flags = AMQP_BASIC_HEADERS_FLAG, .headers = {1, h_other}};
  amqp_basic_properties_t p2 = {._flags = AMQP_BASIC_HEADERS_FLAG, .headers = {1, h_v}};
  publish(c, 1, name("headers"), "", 0, &p1, B("other"));
  publish(c, 1, name("headers"), "", 0, &p2, B("match"));
  const char *got = drain(c, 1, q);
  CHECK(strcmp(got, "match") == 0, "routed by the headers exchange: got [%s], want [match]", got);
  amqp_queue_declare_ok_t *anon = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
  ok_or_die(c, "server-named queue.declare");
  CHECK(anon->queue.len > 8 && memcmp(anon->queue.bytes, "amq.gen-", 8) == 0, "server-named queue %.*s",
        (int)anon->queue.len, (char *)anon->queue.bytes);
  close_conn(c);
  return "";
}

static const char *sc_roundtrip(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  unsigned char body[256];
  for (int i = 0; i < 256; i++) body[i] = (unsigned char)i;
  amqp_basic_properties_t p = {0};
  p._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG | AMQP_BASIC_HEADERS_FLAG |
             AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG |
             AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_EXPIRATION_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG |
             AMQP_BASIC_TIMESTAMP_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_USER_ID_FLAG | AMQP_BASIC_APP_ID_FLAG |
             AMQP_BASIC_CLUSTER_ID_FLAG;
  p.content_type = B("application/octet-stream");
  p.content_encoding = B("identity");
  p.headers = headers_fixture();
  p.delivery_mode = 2;
  p.priority = 5;
  p.correlation_id = B("corr-1");
  p.reply_to = B("reply-here");
  p.expiration = B("60000");
  p.message_id = B("msg-1");
  p.timestamp = 1700000000;
  p.type = B("interop.test");
  p.user_id = B(user_of_url());
  p.app_id = B("interop");
  p.cluster_id = B("cluster-1");
  publish(c, 1, "", q, 0, &p, (amqp_bytes_t){256, body});
  consume(c, 1, q, 0, 0);
  amqp_envelope_t env;
  CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for delivery");
  amqp_basic_properties_t *g = &env.message.properties;
  CHECK(env.message.body.len == 256 && memcmp(env.message.body.bytes, body, 256) == 0, "body differs");
  CHECK(g->_flags == p._flags, "property flags: got 0x%04x, want 0x%04x", g->_flags, p._flags);
  struct { const char *what; amqp_bytes_t got, want; } strs[] = {
      {"content_type", g->content_type, p.content_type}, {"content_encoding", g->content_encoding, p.content_encoding},
      {"correlation_id", g->correlation_id, p.correlation_id}, {"reply_to", g->reply_to, p.reply_to},
      {"expiration", g->expiration, p.expiration}, {"message_id", g->message_id, p.message_id},
      {"type", g->type, p.type}, {"user_id", g->user_id, p.user_id}, {"app_id", g->app_id, p.app_id},
      {"cluster_id", g->cluster_id, p.cluster_id}};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
    CHECK(bytes_equal(strs[i].got, strs[i].want), "property %s: got %.*s", strs[i].what,
          (int)strs[i].got.len, (char *)strs[i].got.bytes);
  CHECK(g->delivery_mode == 2 && g->priority == 5 && g->timestamp == 1700000000, "delivery_mode/priority/timestamp: %d %d %llu",
        g->delivery_mode, g->priority, (unsigned long long)g->timestamp);
  char want_h[1024] = "", got_h[1024] = "";
  render_table(want_h, sizeof want_h, &p.headers);
  render_table(got_h, sizeof got_h, &g->headers);
  CHECK(strcmp(want_h, got_h) == 0, "headers: got %s, want %s", got_h, want_h);
  CHECK(env.exchange.len == 0 && bytes_eq(env.routing_key, q) && !env.redelivered, "delivery fields");
  amqp_basic_ack(c, 1, env.delivery_tag, 0);
  amqp_destroy_envelope(&env);
  close_conn(c);
  return "";
}

static const char *sc_topic(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  declare_exchange(c, 1, name("x"), "topic", 0);
  declare_queue(c, 1, name("q1"), 0);
  declare_queue(c, 1, name("q2"), 0);
  bind(c, 1, name("q1"), name("x"), "orders.*.eu", amqp_empty_table);
  bind(c, 1, name("q2"), name("x"), "orders.#", amqp_empty_table);
  const char *keys[] = {"orders.new.eu", "orders.new.us", "orders", "invoices.new.eu", "orders.new.eu.extra"};
  for (int i = 0; i < 5; i++) publish_text(c, 1, name("x"), keys[i], keys[i]);
  const char *q1 = drain(c, 1, name("q1"));
  CHECK(strcmp(q1, "orders.new.eu") == 0, "q1: got [%s]", q1);
  const char *q2 = drain(c, 1, name("q2"));
  CHECK(strcmp(q2, "orders.new.eu|orders.new.us|orders|orders.new.eu.extra") == 0, "q2: got [%s]", q2);
  close_conn(c);
  return "";
}

static const char *sc_fanout(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  declare_exchange(c, 1, name("x"), "fanout", 0);
  char qs[3][600], key[10];
  for (int i = 0; i < 3; i++) {
    snprintf(qs[i], 600, "%s.q%d", P, i);
    snprintf(key, sizeof key, "key%d", i);
    declare_queue(c, 1, qs[i], 0);
    bind(c, 1, qs[i], name("x"), key, amqp_empty_table);
  }
  publish_text(c, 1, name("x"), "anything", "to all");
  for (int i = 0; i < 3; i++) {
    const char *got = drain(c, 1, qs[i]);
    CHECK(strcmp(got, "to all") == 0, "%s: got [%s]", qs[i], got);
  }
  close_conn(c);
  return "";
}

static const char *sc_work_queue(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  char b[8];
  for (int i = 0; i < 10; i++) {
    snprintf(b, sizeof b, "%d", i);
    publish_text(c, 1, "", q, b);
  }
  /* channel 2 = slow consumer (never acks), channel 3 = fast consumer (acks each) */
  open_channel(c, 2);
  open_channel(c, 3);
  consume(c, 2, q, 1, 0);
  amqp_envelope_t env;
  CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for the first delivery to the slow consumer");
  CHECK(env.channel == 2, "first delivery on channel %d", env.channel);
  char slow[64];
  snprintf(slow, sizeof slow, "%.*s", (int)env.message.body.len, (char *)env.message.body.bytes);
  uint64_t slow_tag = env.delivery_tag;
  amqp_destroy_envelope(&env);
  consume(c, 3, q, 1, 0);
  char fast[256] = "";
  int slow_more = 0, n_fast = 0;
  while (n_fast < 9) {
    CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for 9 deliveries to the fast consumer (got %d)", n_fast);
    if (env.channel == 2) slow_more++;
    else {
      strncat(fast, env.message.body.bytes, env.message.body.len);
      amqp_basic_ack(c, 3, env.delivery_tag, 0);
      n_fast++;
    }
    amqp_destroy_envelope(&env);
  }
  while (next_delivery(c, &env, 200, NULL, NULL)) { slow_more++; amqp_destroy_envelope(&env); }
  CHECK(strcmp(slow, "0") == 0 && slow_more == 0, "slow consumer (prefetch 1, never acks) got %s and %d more", slow, slow_more);
  CHECK(strcmp(fast, "123456789") == 0, "fast consumer got %s", fast);
  amqp_basic_ack(c, 2, slow_tag, 0);
  CHECK(count(c, 1, q) == 0, "left in queue");
  close_conn(c);
  return "";
}

static const char *sc_ack_nack_reject(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  publish_text(c, 1, "", q, "ack");
  publish_text(c, 1, "", q, "nack");
  publish_text(c, 1, "", q, "reject");
  open_channel(c, 2);
  consume(c, 2, q, 10, 0);
  const char *want[] = {"ack", "nack", "reject"};
  uint64_t tags[3];
  amqp_envelope_t env;
  for (int i = 0; i < 3; i++) {
    CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for 3 deliveries");
    CHECK(bytes_eq(env.message.body, want[i]), "delivery %d: %.*s", i, (int)env.message.body.len, (char *)env.message.body.bytes);
    tags[i] = env.delivery_tag;
    amqp_destroy_envelope(&env);
  }
  amqp_basic_ack(c, 2, tags[0], 0);
  amqp_basic_nack(c, 2, tags[1], 0, 1);
  amqp_basic_reject(c, 2, tags[2], 0);
  CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for the redelivery after nack");
  CHECK(bytes_eq(env.message.body, "nack") && env.redelivered, "redelivery: %.*s redelivered=%d",
        (int)env.message.body.len, (char *)env.message.body.bytes, env.redelivered);
  amqp_basic_ack(c, 2, env.delivery_tag, 0);
  amqp_destroy_envelope(&env);
  CHECK(!next_delivery(c, &env, 200, NULL, NULL), "a fifth delivery");
  CHECK(count(c, 1, q) == 0, "left in queue");
  close_conn(c);
  return "";
}

static const char *sc_basic_get(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  publish_text(c, 1, "", q, "one");
  publish_text(c, 1, "", q, "two");
  got_t g = get(c, 1, q, 0);
  CHECK(g.ok && !strcmp(g.body, "one") && g.message_count == 1 && !g.redelivered, "first get: %s %u %d", g.body, g.message_count, g.redelivered);
  amqp_basic_ack(c, 1, g.tag, 0);
  g = get(c, 1, q, 0);
  CHECK(g.ok && !strcmp(g.body, "two") && g.message_count == 0, "second get: %s %u", g.body, g.message_count);
  amqp_basic_reject(c, 1, g.tag, 1);
  g = get(c, 1, q, 0);
  CHECK(g.ok && !strcmp(g.body, "two") && g.redelivered, "get after reject: %s %d", g.body, g.redelivered);
  amqp_basic_ack(c, 1, g.tag, 0);
  CHECK(!get(c, 1, q, 0).ok, "get on the empty queue returned a message");
  close_conn(c);
  return "";
}

/* Wait until publisher confirms cover delivery tags 1..last (they may come out of order, and one
 * ack may cover several with `multiple`); returns the number of nacked messages. */
static int wait_confirms(amqp_connection_state_t c, uint64_t last) {
  char done[1024] = {0};
  uint64_t n_done = 0;
  int nacked = 0;
  double end = now() + 10;
  CHECK(last < sizeof done, "too many messages to confirm");
  while (n_done < last) {
    CHECK(now() < end, "timed out waiting for confirms (%llu of %llu)", (unsigned long long)n_done, (unsigned long long)last);
    amqp_frame_t f;
    struct timeval tv = {0, 100000};
    int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT) continue;
    status_or_die(st, "wait for confirms");
    if (f.frame_type != AMQP_FRAME_METHOD) continue;
    uint64_t tag;
    int multiple;
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
      amqp_basic_ack_t *a = f.payload.method.decoded;
      tag = a->delivery_tag;
      multiple = a->multiple;
    } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
      amqp_basic_nack_t *n = f.payload.method.decoded;
      tag = n->delivery_tag;
      multiple = n->multiple;
      nacked++;
    } else {
      continue;
    }
    for (uint64_t t = multiple ? 1 : tag; t <= tag && t <= last; t++)
      if (!done[t]) { done[t] = 1; n_done++; }
  }
  return nacked;
}

static const char *sc_confirms(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  amqp_confirm_select(c, 1);
  ok_or_die(c, "confirm.select");
  char b[8];
  for (int i = 0; i < 50; i++) {
    snprintf(b, sizeof b, "%d", i);
    publish_text(c, 1, "", q, b);
  }
  CHECK(wait_confirms(c, 50) == 0, "nacks");
  CHECK(count(c, 1, q) == 50, "queued");
  close_conn(c);
  return "";
}

static const char *sc_mandatory_return(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  declare_exchange(c, 1, name("x"), "direct", 0);
  publish(c, 1, name("x"), "nowhere", 1, NULL, B("bounce"));
  amqp_frame_t f;
  struct timeval tv = {10, 0};
  status_or_die(amqp_simple_wait_frame_noblock(c, &f, &tv), "waiting for basic.return");
  CHECK(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_RETURN_METHOD, "expected basic.return");
  amqp_basic_return_t *r = f.payload.method.decoded;
  CHECK(r->reply_code == 312 && bytes_eq(r->reply_text, "NO_ROUTE") && bytes_eq(r->exchange, name("x")) && bytes_eq(r->routing_key, "nowhere"),
        "return: %d %.*s", r->reply_code, (int)r->reply_text.len, (char *)r->reply_text.bytes);
  amqp_message_t m;
  amqp_rpc_reply_t rr = amqp_read_message(c, f.channel, &m, 0);
  int code;
  CHECK(rr.reply_type == AMQP_RESPONSE_NORMAL, "reading the returned message: %s", reply_text(rr, &code));
  CHECK(bytes_eq(m.body, "bounce"), "returned body");
  amqp_destroy_message(&m);
  close_conn(c);
  return "";
}

static const char *sc_rpc(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1); /* server */
  open_channel(c, 2); /* client */
  const char *q = name("requests");
  declare_queue(c, 1, q, 0);
  consume(c, 1, q, 0, 0);
  amqp_queue_declare_ok_t *cb = amqp_queue_declare(c, 2, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
  ok_or_die(c, "callback queue.declare");
  char callback[256];
  snprintf(callback, sizeof callback, "%.*s", (int)cb->queue.len, (char *)cb->queue.bytes);
  consume(c, 2, callback, 0, 1);
  const char *words[] = {"alpha", "beta", "gamma"};
  char cids[3][64];
  for (int i = 0; i < 3; i++) {
    snprintf(cids[i], 64, "%d-%ld-%d", getpid(), (long)time(NULL), i);
    amqp_basic_properties_t p = {._flags = AMQP_BASIC_REPLY_TO_FLAG | AMQP_BASIC_CORRELATION_ID_FLAG,
                                 .reply_to = B(callback), .correlation_id = B(cids[i])};
    publish(c, 2, "", q, 0, &p, B(words[i]));
  }
  int replies = 0;
  while (replies < 3) {
    amqp_envelope_t env;
    CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for 3 replies (got %d)", replies);
    amqp_basic_properties_t *pr = &env.message.properties;
    if (env.channel == 1) { /* server: reply upper-cased */
      char up[64];
      snprintf(up, sizeof up, "%.*s", (int)env.message.body.len, (char *)env.message.body.bytes);
      for (char *s = up; *s; s++) *s = (char)(*s - 32 * (*s >= 'a' && *s <= 'z'));
      amqp_basic_properties_t rp = {._flags = AMQP_BASIC_CORRELATION_ID_FLAG, .correlation_id = pr->correlation_id};
      char reply_to[256];
      snprintf(reply_to, sizeof reply_to, "%.*s", (int)pr->reply_to.len, (char *)pr->reply_to.bytes);
      publish(c, 1, "", reply_to, 0, &rp, B(up));
      amqp_basic_ack(c, 1, env.delivery_tag, 0);
    } else { /* client: match the correlation id */
      int matched = 0;
      for (int i = 0; i < 3; i++) {
        char want[16];
        snprintf(want, sizeof want, "%s", words[i]);
        for (char *s = want; *s; s++) *s = (char)(*s - 32);
        if (bytes_eq(pr->correlation_id, cids[i]) && bytes_eq(env.message.body, want)) matched = 1;
      }
      CHECK(matched, "reply %.*s with correlation_id %.*s matches no request", (int)env.message.body.len,
            (char *)env.message.body.bytes, (int)pr->correlation_id.len, (char *)pr->correlation_id.bytes);
      replies++;
    }
    amqp_destroy_envelope(&env);
  }
  close_conn(c);
  return "";
}

static const char *sc_tx(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  amqp_tx_select(c, 1);
  ok_or_die(c, "tx.select");
  publish_text(c, 1, "", q, "rolled back");
  amqp_tx_rollback(c, 1);
  ok_or_die(c, "tx.rollback");
  CHECK(count(c, 1, q) == 0, "after rollback");
  publish_text(c, 1, "", q, "committed");
  CHECK(count(c, 1, q) == 0, "before commit");
  amqp_tx_commit(c, 1);
  ok_or_die(c, "tx.commit");
  CHECK(count(c, 1, q) == 1, "after commit");
  got_t g = get(c, 1, q, 0);
  CHECK(g.ok && !strcmp(g.body, "committed"), "body %s", g.body);
  amqp_basic_ack(c, 1, g.tag, 0);
  amqp_tx_commit(c, 1);
  ok_or_die(c, "tx.commit");
  CHECK(count(c, 1, q) == 0, "after acked commit");
  close_conn(c);
  return "";
}

static const char *sc_consumer_cancel(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  open_channel(c, 2);
  const char *q = name("q");
  declare_queue(c, 1, q, 0);
  amqp_basic_consume_ok_t *ok = consume(c, 1, q, 0, 0);
  char tag[256];
  snprintf(tag, sizeof tag, "%.*s", (int)ok->consumer_tag.len, (char *)ok->consumer_tag.bytes);
  amqp_queue_delete(c, 2, B(q), 0, 0);
  /* the server's basic.cancel (channel 1) may arrive before queue.delete-ok (channel 2): rabbitmq-c
   * keeps frames for other channels and hands them to the next wait */
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  amqp_frame_t f;
  int got = 0;
  if (r.reply_type == AMQP_RESPONSE_NORMAL) {
    amqp_envelope_t env;
    CHECK(!next_delivery(c, &env, 5000, &f, &got) && got, "timed out waiting for basic.cancel from the server");
  } else {
    fail("queue.delete: unexpected reply");
  }
  CHECK(f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_CANCEL_METHOD,
        "expected basic.cancel, got method 0x%08x", f.payload.method.id);
  amqp_basic_cancel_t *cancel = f.payload.method.decoded;
  CHECK(bytes_eq(cancel->consumer_tag, tag), "cancelled consumer tag");
  amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table); /* the channel is still open */
  ok_or_die(c, "queue.declare after the cancel");
  close_conn(c);
  return "with the consumer_cancel_notify capability announced in amqp_login_with_properties";
}

static const char *sc_large_message(void) {
  const char *q;
  amqp_connection_state_t c = connect_with_queue("q", &q);
  size_t n = 5 * 1024 * 1024;
  unsigned char *body = malloc(n);
  for (size_t i = 0; i < n; i++) body[i] = (unsigned char)(i % 251);
  publish(c, 1, "", q, 0, NULL, (amqp_bytes_t){n, body});
  consume(c, 1, q, 0, 1);
  amqp_envelope_t env;
  CHECK(next_delivery(c, &env, 30000, NULL, NULL), "timed out waiting for the 5 MiB delivery");
  CHECK(env.message.body.len == n, "size %zu", env.message.body.len);
  CHECK(memcmp(env.message.body.bytes, body, n) == 0, "body differs");
  amqp_destroy_envelope(&env);
  free(body);
  close_conn(c);
  return "";
}

static const char *sc_heartbeat(void) {
  amqp_connection_state_t c = connect_hb(1);
  CHECK(amqp_get_heartbeat(c) == 1, "negotiated heartbeat %d", amqp_get_heartbeat(c));
  open_channel(c, 1);
  /* rabbitmq-c sends heartbeats from inside its blocking calls: idle in a wait loop */
  for (double end = now() + 3; now() < end;) {
    amqp_frame_t f;
    struct timeval tv = {0, 100000};
    int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
    CHECK(st == AMQP_STATUS_TIMEOUT || st == AMQP_STATUS_OK, "while idle: %s", amqp_error_string2(st));
  }
  amqp_queue_declare_ok_t *ok = amqp_queue_declare(c, 1, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
  ok_or_die(c, "queue.declare after idle");
  char q[256];
  snprintf(q, sizeof q, "%.*s", (int)ok->queue.len, (char *)ok->queue.bytes);
  publish_text(c, 1, "", q, "still alive");
  got_t g = get(c, 1, q, 1);
  CHECK(g.ok && !strcmp(g.body, "still alive"), "after idle: %s", g.body);
  close_conn(c);
  return "negotiated 1 s, idle 3 s (wait loop), connection alive";
}

static const char *sc_channel_error(void) {
  static char detail[512];
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  amqp_queue_declare(c, 1, B(name("missing")), 1, 0, 0, 0, amqp_empty_table);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  int code;
  const char *text = reply_text(r, &code);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD && code == 404,
        "passive declare of a missing queue: %s", text);
  snprintf(detail, sizeof detail, "%s", text);
  amqp_channel_close_ok_t close_ok = {0};
  status_or_die(amqp_send_method(c, 1, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok), "channel.close-ok");
  open_channel(c, 2); /* the connection is still open */
  amqp_queue_declare(c, 2, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
  ok_or_die(c, "queue.declare on a new channel");
  close_conn(c);
  return detail;
}

static const char *sc_persist_publish(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  declare_exchange(c, 1, name("x"), "direct", 1);
  declare_queue(c, 1, name("q"), 1);
  bind(c, 1, name("q"), name("x"), "k", amqp_empty_table);
  declare_queue(c, 1, name("transient-q"), 0);
  amqp_confirm_select(c, 1);
  ok_or_die(c, "confirm.select");
  amqp_basic_properties_t persistent = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
  amqp_basic_properties_t transient = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 1};
  publish(c, 1, name("x"), "k", 0, &persistent, B("persisted"));
  publish(c, 1, name("x"), "k", 0, &transient, B("transient"));
  CHECK(wait_confirms(c, 2) == 0, "nacked");
  close_conn(c);
  keep_declared = 1;
  return "";
}

static const char *sc_persist_check(void) {
  /* delete at exit whatever persist-publish declared */
  snprintf(declared_queues[n_queues++], 600, "%s", name("q"));
  snprintf(declared_queues[n_queues++], 600, "%s", name("transient-q"));
  snprintf(declared_exchanges[n_exchanges++], 600, "%s", name("x"));
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  int n = count(c, 1, name("q"));
  CHECK(n == 1, "messages in the durable queue after restart: got %d, want 1", n);
  got_t g = get(c, 1, name("q"), 0);
  CHECK(g.ok && !strcmp(g.body, "persisted") && g.delivery_mode == 2, "message: %s delivery_mode %d", g.body, g.delivery_mode);
  amqp_basic_ack(c, 1, g.tag, 0);
  publish_text(c, 1, name("x"), "k", "via binding");
  CHECK(get(c, 1, name("q"), 1).ok, "the durable binding did not survive the restart");
  open_channel(c, 2);
  amqp_queue_declare(c, 2, B(name("transient-q")), 1, 0, 0, 0, amqp_empty_table);
  amqp_rpc_reply_t r = amqp_get_rpc_reply(c);
  int code;
  const char *text = reply_text(r, &code);
  CHECK(r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && code == 404, "the non-durable queue survived the restart (%s)", text);
  close_conn(c);
  return "";
}

/* ---- stream and quorum (see python/common.py) */
enum { STREAM_COUNT = 10, STREAM_SAVED = 5, RETENTION_COUNT = 100, RETENTION_SIZE = 100, DELIVERY_LIMIT = 2 };

static const char *stream_body(int i) {
  static char b[16];
  snprintf(b, sizeof b, "s%d", i);
  return b;
}

static const char *retention_body(int i) {
  static char b[RETENTION_SIZE + 1];
  snprintf(b, sizeof b, "r%03d", i);
  memset(b + 4, '.', RETENTION_SIZE - 4);
  b[RETENTION_SIZE] = '\0';
  return b;
}

static const amqp_field_value_t *field(const amqp_table_t *t, const char *key) {
  for (int i = 0; t && i < t->num_entries; i++)
    if (bytes_eq(t->entries[i].key, key)) return &t->entries[i].value;
  return NULL;
}

/* Publish persistent on confirm-mode channel 1 as message number seq, and wait for its ack. */
static void publish_confirmed(amqp_connection_state_t c, const char *q, const char *body, uint64_t seq) {
  amqp_basic_properties_t persistent = {._flags = AMQP_BASIC_DELIVERY_MODE_FLAG, .delivery_mode = 2};
  publish(c, 1, "", q, 0, &persistent, amqp_cstring_bytes(body));
  double end = now() + 10;
  for (;;) {
    CHECK(now() < end, "timed out waiting for the confirm of %s", body);
    amqp_frame_t f;
    struct timeval tv = {0, 100000};
    int st = amqp_simple_wait_frame_noblock(c, &f, &tv);
    if (st == AMQP_STATUS_TIMEOUT) continue;
    status_or_die(st, "wait for a confirm");
    if (f.frame_type != AMQP_FRAME_METHOD) continue;
    CHECK(f.payload.method.id != AMQP_BASIC_NACK_METHOD, "%s nacked", body);
    if (f.payload.method.id == AMQP_BASIC_ACK_METHOD && ((amqp_basic_ack_t *)f.payload.method.decoded)->delivery_tag >= seq) return;
  }
}

/* Consume the stream on channel ch from x-stream-offset (a string or, when offset is NULL, the
 * number num) with prefetch, acking, until body last; bodies into out (joined with '|'), the
 * offset headers into offsets; returns the count. */
static int read_stream(amqp_connection_state_t c, amqp_channel_t ch, const char *q, const char *offset, int64_t num,
                       const char *last, char *out, size_t n, int64_t *offsets) {
  open_channel(c, ch);
  amqp_basic_qos(c, ch, 0, RETENTION_COUNT, 0);
  ok_or_die(c, "basic.qos");
  amqp_table_entry_t arg = {amqp_cstring_bytes("x-stream-offset"), {.kind = AMQP_FIELD_KIND_I64, .value.i64 = num}};
  if (offset) arg.value = (amqp_field_value_t){.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(offset)};
  amqp_basic_consume(c, ch, amqp_cstring_bytes(q), amqp_empty_bytes, 0, 0, 0, (amqp_table_t){1, &arg});
  ok_or_die(c, "basic.consume");
  int got = 0, done = 0;
  out[0] = '\0';
  while (!done) {
    amqp_envelope_t env;
    CHECK(next_delivery(c, &env, 10000, NULL, NULL), "timed out waiting for %s from offset %s", last, offset ? offset : "(number)");
    CHECK(env.channel == ch, "a delivery on channel %d", env.channel);
    if (out[0]) strncat(out, "|", n - strlen(out) - 1);
    strncat(out, (char *)env.message.body.bytes, env.message.body.len < 8 ? env.message.body.len : 8);
    const amqp_field_value_t *o = field(&env.message.properties.headers, "x-stream-offset");
    CHECK(o && o->kind == AMQP_FIELD_KIND_I64, "x-stream-offset header missing or not a long");
    if (offsets && got < STREAM_COUNT) offsets[got] = o->value.i64;
    got++;
    done = bytes_eq(env.message.body, last);
    amqp_basic_ack(c, ch, env.delivery_tag, 0);
    amqp_destroy_envelope(&env);
  }
  amqp_channel_close(c, ch, AMQP_REPLY_SUCCESS);
  return got;
}

static const char *sc_stream(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  amqp_table_entry_t stream[] = {S("x-queue-type", "stream")};
  amqp_table_entry_t retention[] = {S("x-queue-type", "stream"), I32("x-max-length-bytes", 2000),
                                    I32("x-stream-max-segment-size-bytes", 500)};
  const char *q = name("s"), *r = name("retention");
  declare_queue_args(c, 1, q, 1, (amqp_table_t){1, stream});
  declare_queue_args(c, 1, r, 1, (amqp_table_t){3, retention});
  amqp_confirm_select(c, 1);
  ok_or_die(c, "confirm.select");
  uint64_t seq = 0;
  char want[256] = "";
  for (int i = 0; i < STREAM_COUNT; i++) {
    publish_confirmed(c, q, stream_body(i), ++seq);
    if (i) strcat(want, "|");
    strcat(want, stream_body(i));
  }
  for (int i = 0; i < RETENTION_COUNT; i++) publish_confirmed(c, r, retention_body(i), ++seq);
  char last[16], got[2048];
  snprintf(last, sizeof last, "%s", stream_body(STREAM_COUNT - 1));
  int64_t offsets[STREAM_COUNT];
  int n = read_stream(c, 2, q, "first", 0, last, got, sizeof got, offsets);
  CHECK(n == STREAM_COUNT && !strcmp(got, want), "bodies read from first: %s", got);
  for (int i = 1; i < STREAM_COUNT; i++) CHECK(offsets[i] > offsets[i - 1], "x-stream-offset not increasing at %d", i);
  n = read_stream(c, 3, q, NULL, offsets[STREAM_SAVED], last, got, sizeof got, NULL);
  CHECK(!strcmp(got, strstr(want, stream_body(STREAM_SAVED))), "bodies read from offset %lld: %s",
        (long long)offsets[STREAM_SAVED], got);
  char newest[RETENTION_SIZE + 1];
  snprintf(newest, sizeof newest, "%s", retention_body(RETENTION_COUNT - 1));
  n = read_stream(c, 4, r, "first", 0, newest, got, sizeof got, NULL);
  CHECK(n < RETENTION_COUNT && strncmp(got, "r000", 4) != 0,
        "retention dropped nothing: %d of %d messages still there", n, RETENTION_COUNT);
  static char detail[128];
  snprintf(detail, sizeof detail, "offsets %lld..%lld; retention kept %d of %d", (long long)offsets[0],
           (long long)offsets[STREAM_COUNT - 1], n, RETENTION_COUNT);
  close_conn(c);
  return detail;
}

static const char *sc_quorum(void) {
  amqp_connection_state_t c = connect_ok();
  open_channel(c, 1);
  const char *dlq = name("dlq"), *q = name("qq");
  declare_queue(c, 1, dlq, 0);
  amqp_table_entry_t args[] = {S("x-queue-type", "quorum"), I32("x-delivery-limit", DELIVERY_LIMIT),
                               S("x-dead-letter-exchange", ""),
                               {amqp_cstring_bytes("x-dead-letter-routing-key"),
                                {.kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes(dlq)}}};
  declare_queue_args(c, 1, q, 1, (amqp_table_t){4, args});
  amqp_confirm_select(c, 1);
  ok_or_die(c, "confirm.select");
  publish_confirmed(c, q, "poison", 1);
  open_channel(c, 2);
  consume(c, 2, q, 1, 0);
  int deliveries = 0;
  amqp_envelope_t env;
  /* reject with requeue until no delivery follows: the delivery limit ends it */
  while (next_delivery(c, &env, deliveries ? 500 : 10000, NULL, NULL)) {
    deliveries++;
    CHECK(deliveries <= 10, "still delivered after %d rejects", deliveries);
    amqp_basic_reject(c, 2, env.delivery_tag, 1);
    amqp_destroy_envelope(&env);
  }
  CHECK(deliveries == DELIVERY_LIMIT + 1, "deliveries before dead-lettering: got %d, want %d", deliveries, DELIVERY_LIMIT + 1);
  amqp_rpc_reply_t rr;
  double end = now() + 10;
  for (;;) {
    rr = amqp_basic_get(c, 1, amqp_cstring_bytes(dlq), 1);
    int code;
    if (rr.reply_type != AMQP_RESPONSE_NORMAL) fail("basic.get: %s", reply_text(rr, &code));
    if (rr.reply.id == AMQP_BASIC_GET_OK_METHOD) break;
    CHECK(now() < end, "the message did not reach the dead-letter queue");
    usleep(20000);
  }
  amqp_message_t m;
  int code;
  rr = amqp_read_message(c, 1, &m, 0);
  if (rr.reply_type != AMQP_RESPONSE_NORMAL) fail("read message: %s", reply_text(rr, &code));
  CHECK(bytes_eq(m.body, "poison"), "dead-lettered body: %.*s", (int)m.body.len, (char *)m.body.bytes);
  const amqp_field_value_t *deaths = field(&m.properties.headers, "x-death");
  CHECK(deaths && deaths->kind == AMQP_FIELD_KIND_ARRAY && deaths->value.array.num_entries > 0 &&
        deaths->value.array.entries[0].kind == AMQP_FIELD_KIND_TABLE, "no x-death header");
  const amqp_table_t *death = &deaths->value.array.entries[0].value.table;
  const amqp_field_value_t *reason = field(death, "reason"), *queue = field(death, "queue");
  CHECK(reason && queue && bytes_eq(reason->value.bytes, "delivery_limit") && bytes_eq(queue->value.bytes, q),
        "x-death reason and queue: %.*s %.*s", reason ? (int)reason->value.bytes.len : 0,
        reason ? (char *)reason->value.bytes.bytes : "", queue ? (int)queue->value.bytes.len : 0,
        queue ? (char *)queue->value.bytes.bytes : "");
  amqp_destroy_message(&m);
  close_conn(c);
  static char detail[80];
  snprintf(detail, sizeof detail, "%d deliveries, then dead-lettered (delivery_limit)", deliveries);
  return detail;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s URL SCENARIO PREFIX\n", argv[0]);
    return 2;
  }
  url = argv[1];
  scenario = argv[2];
  snprintf(P, sizeof P, "%s.%s", argv[3], strncmp(scenario, "persist-", 8) == 0 ? "persist" : scenario);
  struct { const char *name; const char *(*fn)(void); } table[] = {
      {"connect", sc_connect}, {"bad-password", sc_bad_password}, {"declare", sc_declare},
      {"roundtrip", sc_roundtrip}, {"topic", sc_topic}, {"fanout", sc_fanout}, {"work-queue", sc_work_queue},
      {"ack-nack-reject", sc_ack_nack_reject}, {"basic-get", sc_basic_get}, {"confirms", sc_confirms},
      {"mandatory-return", sc_mandatory_return}, {"rpc", sc_rpc}, {"tx", sc_tx},
      {"consumer-cancel", sc_consumer_cancel}, {"large-message", sc_large_message}, {"heartbeat", sc_heartbeat},
      {"channel-error", sc_channel_error}, {"persist-publish", sc_persist_publish}, {"persist-check", sc_persist_check},
      {"stream", sc_stream}, {"quorum", sc_quorum}};
  alarm(60); /* the runner's timeout reports a hang */
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(table[i].name, scenario) == 0) emit("pass", table[i].fn());
  fail("scenario %s not implemented by this client", scenario);
  return 1;
}
