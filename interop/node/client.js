// Interop client: amqplib (npm), promise API.  Usage: node client.js URL SCENARIO PREFIX
// Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
'use strict';
const amqp = require('amqplib');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');

const [url, scenario, prefix] = process.argv.slice(2);
const name = scenario.startsWith('persist-') ? 'persist' : scenario;
const p = `${prefix}.${name}`;

// ---- fixtures, the same in every language (see interop/python/common.py)
const BODY = Buffer.from([...Array(256).keys()]);
const HEADERS = {
  str: 'text', int: 42, neg: -7, big: 10000000000, bool: true,
  nested: { level: 2, inner: { deep: 'yes' } }, list: [1, 'two', { three: 3 }],
};
const USER = decodeURIComponent(new URL(url).username || 'guest');
const PROPS = {
  contentType: 'application/octet-stream', contentEncoding: 'identity', headers: HEADERS,
  deliveryMode: 2, priority: 5, correlationId: 'corr-1', replyTo: 'reply-here', expiration: '60000',
  messageId: 'msg-1', timestamp: 1700000000, type: 'interop.test', userId: USER, appId: 'interop',
  // clusterId: amqplib never sends it (api_args.js sets clusterId: undefined)
};
const QUEUE_ARGS = { 'x-message-ttl': 60000, 'x-max-length': 100, 'x-max-priority': 10 };
const LARGE = 5 * 1024 * 1024;
const TOPIC_KEYS = ['orders.new.eu', 'orders.new.us', 'orders', 'invoices.new.eu', 'orders.new.eu.extra'];
// stream and quorum (see python/common.py)
const STREAM_COUNT = 10; const STREAM_SAVED = 5;
const STREAM_ARGS = { 'x-queue-type': 'stream' };
const RETENTION_COUNT = 100; const RETENTION_SIZE = 100;
const RETENTION_ARGS = { 'x-queue-type': 'stream', 'x-max-length-bytes': 2000, 'x-stream-max-segment-size-bytes': 500 };
const DELIVERY_LIMIT = 2;
const quorumArgs = (dlq) => ({ 'x-queue-type': 'quorum', 'x-delivery-limit': DELIVERY_LIMIT,
  'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': dlq });
const streamBody = (i) => `s${i}`;
const retentionBody = (i) => `r${String(i).padStart(3, '0')}`.padEnd(RETENTION_SIZE, '.');

class Fail extends Error {}
const check = (cond, msg) => { if (!cond) throw new Fail(msg); };
const eq = (what, got, want) => {
  try { assert.deepStrictEqual(got, want); } catch { throw new Fail(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`); }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(cond, what, ms = 10000) {
  for (const end = Date.now() + ms; !cond();) {
    if (Date.now() > end) throw new Fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}
function wrongPassword(u) { const x = new URL(u); x.password = 'wrong-password'; return x.toString(); }
function withHeartbeat(u, s) { const x = new URL(u); x.searchParams.set('heartbeat', String(s)); return x.toString(); }
function largeBody() { const b = Buffer.alloc(LARGE); for (let i = 0; i < LARGE; i++) b[i] = (i % 251) % 251; return b; }

async function connect(u = url) {
  const conn = await amqp.connect(u);
  conn.on('error', () => {});            // reported through the failing call instead
  return conn;
}
async function channel(conn, confirm = false) {
  const ch = confirm ? await conn.createConfirmChannel() : await conn.createChannel();
  ch.on('error', () => {});              // a channel error rejects the pending operation
  return ch;
}
// amqplib calls a consumer with null when the server cancels it (as when the cleanup deletes its
// queue): every consumer but the consumer-cancel scenario's ignores that
const live = (fn) => (m) => { if (m !== null) fn(m); };
async function drain(ch, q) {
  const out = [];
  for (let m; (m = await ch.get(q, { noAck: true })) !== false;) out.push(m.content.toString());
  return out;
}
async function withConn(fn, u = url) {
  const conn = await connect(u);
  try { return await fn(conn); } finally { await conn.close().catch(() => {}); }
}

// Consumes the stream from x-stream-offset with prefetch: [body, offset header] up to body `last`.
async function readStream(conn, q, offset, last) {
  const ch = await channel(conn);
  await ch.prefetch(RETENTION_COUNT);
  const got = [];
  await ch.consume(q, live((m) => { got.push([m.content.toString(), m.properties.headers['x-stream-offset']]); ch.ack(m); }),
    { arguments: { 'x-stream-offset': offset } });
  await until(() => got.length && got[got.length - 1][0] === last, `${last} from offset ${offset}`);
  await ch.close();
  return got;
}
function checkStreamReads(first, saved) {
  eq('bodies read from first', first.map(([b]) => b), [...Array(STREAM_COUNT).keys()].map(streamBody));
  const offsets = first.map(([, o]) => Number(o));
  check(offsets.every((o, i) => i === 0 || o > offsets[i - 1]), `x-stream-offset not increasing: ${offsets}`);
  eq(`bodies read from offset ${offsets[STREAM_SAVED]}`, saved,
    [...Array(STREAM_COUNT).keys()].slice(STREAM_SAVED).map(streamBody));
  return `offsets ${offsets[0]}..${offsets[offsets.length - 1]}`;
}
function checkRetention(bodies) {
  check(bodies.length && bodies[bodies.length - 1] === retentionBody(RETENTION_COUNT - 1), 'the newest message is missing');
  check(bodies.length < RETENTION_COUNT && bodies[0] !== retentionBody(0),
    `retention dropped nothing: ${bodies.length} of ${RETENTION_COUNT} messages still there`);
  return `retention kept ${bodies.length} of ${RETENTION_COUNT}`;
}
function checkDeadLettered(deliveries, body, xDeath, q) {
  eq('deliveries before dead-lettering', deliveries, DELIVERY_LIMIT + 1);
  eq('dead-lettered body', body, 'poison');
  check(xDeath && xDeath.length, 'no x-death header');
  eq('x-death reason and queue', [String(xDeath[0].reason), String(xDeath[0].queue)], ['delivery_limit', q]);
  return `${deliveries} deliveries, then dead-lettered (delivery_limit)`;
}
async function publishConfirmed(ch, q, body) {
  await new Promise((resolve, reject) => ch.sendToQueue(q, Buffer.from(body), { deliveryMode: 2 },
    (err) => (err ? reject(new Fail(`${body} nacked`)) : resolve())));
}

// Declares the exchanges ({name: type}) and then the queues on ch, runs fn, and however it ends
// deletes those queues and the queues in deletes, then those exchanges and the exchanges in
// deletesExchanges (what fn declares itself).
async function withDeclared(ch, { queues = [], exchanges = {}, deletes = [], deletesExchanges = [] }, fn) {
  try {
    for (const [x, type] of Object.entries(exchanges)) await ch.assertExchange(x, type, { durable: false });
    for (const q of queues) await ch.assertQueue(q, { durable: false });
    return await fn();
  } finally {
    for (const q of [...queues, ...deletes]) await ch.deleteQueue(q);
    for (const x of [...Object.keys(exchanges), ...deletesExchanges]) await ch.deleteExchange(x);
  }
}

const scenarios = {
  async connect() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      await ch.close();
      const sp = conn.connection.serverProperties;
      return `server ${sp.product} ${sp.version}`;
    });
  },

  async 'bad-password'() {
    let conn;
    try { conn = await amqp.connect(wrongPassword(url)); } catch (e) {
      check(/403|ACCESS.REFUSED/.test(e.message), `unexpected error ${e.message}`);
      return `refused: ${e.message}`;
    }
    await conn.close();
    throw new Fail('connection with a wrong password was accepted');
  },

  async declare() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const kinds = ['direct', 'fanout', 'topic', 'headers'];
      const exchanges = Object.fromEntries(kinds.map((k) => [`${p}.${k}`, k]));
      await withDeclared(ch, { exchanges, deletes: [`${p}.q`] }, async () => {
        const args = { ...QUEUE_ARGS, 'x-dead-letter-exchange': `${p}.fanout` };
        const ok = await ch.assertQueue(`${p}.q`, { durable: false, arguments: args });
        eq('declare-ok', [ok.queue, ok.messageCount], [`${p}.q`, 0]);
        await ch.assertQueue(`${p}.q`, { durable: false, arguments: args });
        await ch.checkQueue(`${p}.q`);
        for (const k of ['direct', 'fanout', 'topic']) await ch.bindQueue(`${p}.q`, `${p}.${k}`, 'k');
        await ch.bindQueue(`${p}.q`, `${p}.headers`, '', { 'x-match': 'all', h: 'v' });
        ch.publish(`${p}.headers`, '', Buffer.from('other'), { headers: { h: 'other' } });
        ch.publish(`${p}.headers`, '', Buffer.from('match'), { headers: { h: 'v' } });
        eq('routed by the headers exchange', await drain(ch, `${p}.q`), ['match']);
        const anon = await ch.assertQueue('', { exclusive: true });
        check(anon.queue.startsWith('amq.gen-'), `server-named queue ${anon.queue}`);
      });
    });
  },

  async roundtrip() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      await withDeclared(ch, { queues: [q] }, async () => {
        ch.sendToQueue(q, BODY, PROPS);
        const got = [];
        await ch.consume(q, live((m) => got.push(m)));
        await until(() => got.length, 'delivery');
        const m = got[0];
        check(m.content.equals(BODY), 'body differs');
        for (const [k, v] of Object.entries(PROPS)) eq(`property ${k}`, m.properties[k], v);
        eq('delivery', [m.fields.exchange, m.fields.routingKey, m.fields.redelivered], ['', q, false]);
        ch.ack(m);
      });
      return 'partial: 13 of 14 properties (amqplib never sends cluster_id)';
    });
  },

  async topic() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      await withDeclared(ch, { queues: [`${p}.q1`, `${p}.q2`], exchanges: { [`${p}.x`]: 'topic' } }, async () => {
        for (const [q, key] of [[`${p}.q1`, 'orders.*.eu'], [`${p}.q2`, 'orders.#']]) await ch.bindQueue(q, `${p}.x`, key);
        for (const key of TOPIC_KEYS) ch.publish(`${p}.x`, key, Buffer.from(key));
        eq('q1', await drain(ch, `${p}.q1`), ['orders.new.eu']);
        eq('q2', await drain(ch, `${p}.q2`), ['orders.new.eu', 'orders.new.us', 'orders', 'orders.new.eu.extra']);
      });
    });
  },

  async fanout() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const queues = [0, 1, 2].map((i) => `${p}.q${i}`);
      await withDeclared(ch, { queues, exchanges: { [`${p}.x`]: 'fanout' } }, async () => {
        for (const [i, q] of queues.entries()) await ch.bindQueue(q, `${p}.x`, `key${i}`);
        ch.publish(`${p}.x`, 'anything', Buffer.from('to all'));
        for (const q of queues) eq(q, await drain(ch, q), ['to all']);
      });
    });
  },

  async 'work-queue'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      await withDeclared(ch, { queues: [q] }, async () => {
        for (let i = 0; i < 10; i++) ch.sendToQueue(q, Buffer.from(String(i)));
        const slowCh = await channel(conn);
        const fastCh = await channel(conn);
        const slow = []; const fast = [];
        await slowCh.prefetch(1);
        await slowCh.consume(q, live((m) => slow.push(m)));
        await until(() => slow.length, 'first delivery to the slow consumer');
        await fastCh.prefetch(1);
        await fastCh.consume(q, live((m) => { fast.push(m.content.toString()); fastCh.ack(m); }));
        await until(() => fast.length >= 9, '9 deliveries to the fast consumer');
        await sleep(200);
        eq('slow consumer (prefetch 1, never acks) got', slow.map((m) => m.content.toString()), ['0']);
        eq('fast consumer got', fast, ['1', '2', '3', '4', '5', '6', '7', '8', '9']);
        slowCh.ack(slow[0]);
        await sleep(100);
        eq('left in queue', (await ch.checkQueue(q)).messageCount, 0);
      });
    });
  },

  async 'ack-nack-reject'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      await withDeclared(ch, { queues: [q] }, async () => {
        for (const b of ['ack', 'nack', 'reject']) ch.sendToQueue(q, Buffer.from(b));
        const cch = await channel(conn);
        await cch.prefetch(10);
        const got = [];
        await cch.consume(q, live((m) => got.push(m)));
        await until(() => got.length >= 3, '3 deliveries');
        eq('first deliveries', got.map((m) => m.content.toString()), ['ack', 'nack', 'reject']);
        cch.ack(got[0]);
        cch.nack(got[1], false, true);
        cch.reject(got[2], false);
        await until(() => got.length >= 4, 'redelivery after nack');
        eq('redelivery', [got[3].content.toString(), got[3].fields.redelivered], ['nack', true]);
        cch.ack(got[3]);
        await sleep(200);
        eq('deliveries', got.length, 4);
        eq('left in queue', (await ch.checkQueue(q)).messageCount, 0);
      });
    });
  },

  async 'basic-get'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      await withDeclared(ch, { queues: [q] }, async () => {
        ch.sendToQueue(q, Buffer.from('one'));
        ch.sendToQueue(q, Buffer.from('two'));
        let m = await ch.get(q);
        eq('first get', [m.content.toString(), m.fields.messageCount, m.fields.redelivered], ['one', 1, false]);
        ch.ack(m);
        m = await ch.get(q);
        eq('second get', [m.content.toString(), m.fields.messageCount], ['two', 0]);
        ch.reject(m, true);
        m = await ch.get(q);
        eq('get after reject', [m.content.toString(), m.fields.redelivered], ['two', true]);
        ch.ack(m);
        eq('get on the empty queue', await ch.get(q), false);
      });
    });
  },

  async confirms() {
    return withConn(async (conn) => {
      const ch = await channel(conn, true);
      const q = `${p}.q`;
      await withDeclared(ch, { queues: [q] }, async () => {
        const acks = [];
        for (let i = 0; i < 50; i++) {
          acks.push(new Promise((resolve, reject) => ch.sendToQueue(q, Buffer.from(String(i)), {},
            (err) => (err ? reject(new Fail(`message ${i} nacked`)) : resolve()))));
        }
        await Promise.all(acks);
        await ch.waitForConfirms();
        eq('queued', (await ch.checkQueue(q)).messageCount, 50);
      });
    });
  },

  async 'mandatory-return'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      await withDeclared(ch, { exchanges: { [`${p}.x`]: 'direct' } }, async () => {
        const returned = [];
        ch.on('return', (m) => returned.push(m));
        ch.publish(`${p}.x`, 'nowhere', Buffer.from('bounce'), { mandatory: true });
        await until(() => returned.length, 'basic.return');
        const f = returned[0].fields;
        eq('return', [f.replyCode, f.replyText, f.exchange, f.routingKey, returned[0].content.toString()],
          [312, 'NO_ROUTE', `${p}.x`, 'nowhere', 'bounce']);
      });
    });
  },

  async rpc() {
    return withConn(async (conn) => {
      const server = await channel(conn);
      const client = await channel(conn);
      const q = `${p}.requests`;
      await withDeclared(server, { queues: [q] }, async () => {
        await server.consume(q, live((m) => {
          server.sendToQueue(m.properties.replyTo, Buffer.from(m.content.toString().toUpperCase()),
            { correlationId: m.properties.correlationId });
          server.ack(m);
        }));
        const { queue: callback } = await client.assertQueue('', { exclusive: true });
        const replies = {};
        await client.consume(callback, live((m) => { replies[m.properties.correlationId] = m.content.toString(); }),
          { noAck: true });
        const want = {};
        for (const word of ['alpha', 'beta', 'gamma']) {
          const cid = crypto.randomUUID();
          want[cid] = word.toUpperCase();
          client.sendToQueue(q, Buffer.from(word), { replyTo: callback, correlationId: cid });
        }
        await until(() => Object.keys(replies).length >= 3, '3 replies');
        eq('replies by correlation_id', replies, want);
      });
    });
  },

  async 'consumer-cancel'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      await ch.assertQueue(q, { durable: false });
      const got = [];
      await ch.consume(q, (m) => got.push(m));   // amqplib calls the consumer with null on cancel
      const other = await channel(conn);
      await other.deleteQueue(q);
      await until(() => got.includes(null), 'basic.cancel from the server', 5000);
      await ch.assertQueue('', { exclusive: true });   // the channel is still open
    });
  },

  async 'large-message'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const q = `${p}.q`;
      const body = largeBody();
      await withDeclared(ch, { queues: [q] }, async () => {
        ch.sendToQueue(q, body);
        const got = [];
        await ch.consume(q, live((m) => got.push(m.content)), { noAck: true });
        await until(() => got.length, 'the 5 MiB delivery', 30000);
        eq('size', got[0].length, LARGE);
        check(got[0].equals(body), 'body differs');
      });
    });
  },

  async heartbeat() {
    return withConn(async (conn) => {
      eq('negotiated heartbeat', conn.connection.heartbeat, 1);
      const ch = await channel(conn);
      await sleep(3000);
      const { queue } = await ch.assertQueue('', { exclusive: true });
      ch.sendToQueue(queue, Buffer.from('still alive'));
      const m = await ch.get(queue, { noAck: true });
      eq('after idle', m && m.content.toString(), 'still alive');
      return 'negotiated 1 s, idle 3 s, connection alive';
    }, withHeartbeat(url, 1));
  },

  async 'channel-error'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      const closed = new Promise((r) => ch.on('close', r));
      let detail;
      try {
        await ch.checkQueue(`${p}.missing`);
        throw new Fail('passive declare of a missing queue succeeded');
      } catch (e) {
        if (e instanceof Fail) throw e;
        eq('reply code', e.code, 404);
        detail = e.message;
      }
      await closed;
      const ch2 = await channel(conn);
      await ch2.assertQueue('', { exclusive: true });
      return detail;
    });
  },

  async 'persist-publish'() {
    return withConn(async (conn) => {
      const ch = await channel(conn, true);
      await ch.assertExchange(`${p}.x`, 'direct', { durable: true });
      await ch.assertQueue(`${p}.q`, { durable: true });
      await ch.bindQueue(`${p}.q`, `${p}.x`, 'k');
      await ch.assertQueue(`${p}.transient-q`, { durable: false });
      ch.publish(`${p}.x`, 'k', Buffer.from('persisted'), { deliveryMode: 2 });
      ch.publish(`${p}.x`, 'k', Buffer.from('transient'), { deliveryMode: 1 });
      await ch.waitForConfirms();
    });
  },

  async 'persist-check'() {
    return withConn(async (conn) => {
      const ch = await channel(conn);
      // the cleanup has a channel of its own: a failed check may close the one it uses
      const cleanup = await channel(conn);
      await withDeclared(cleanup, { deletes: [`${p}.q`, `${p}.transient-q`], deletesExchanges: [`${p}.x`] }, async () => {
        eq('messages in the durable queue after restart', (await ch.checkQueue(`${p}.q`)).messageCount, 1);
        const m = await ch.get(`${p}.q`);
        eq('message', [m.content.toString(), m.properties.deliveryMode], ['persisted', 2]);
        ch.ack(m);
        ch.publish(`${p}.x`, 'k', Buffer.from('via binding'));
        check(await ch.get(`${p}.q`, { noAck: true }), 'the durable binding did not survive the restart');
        const ch2 = await channel(conn);
        try {
          await ch2.checkQueue(`${p}.transient-q`);
          throw new Fail('the non-durable queue survived the restart');
        } catch (e) {
          if (e instanceof Fail) throw e;
          eq('passive declare of the non-durable queue', e.code, 404);
        }
      });
    });
  },

  async stream() {
    return withConn(async (conn) => {
      const ch = await channel(conn, true);
      const q = `${p}.s`; const r = `${p}.retention`;
      return withDeclared(ch, { deletes: [q, r] }, async () => {
        await ch.assertQueue(q, { durable: true, arguments: STREAM_ARGS });
        await ch.assertQueue(r, { durable: true, arguments: RETENTION_ARGS });
        for (let i = 0; i < STREAM_COUNT; i++) await publishConfirmed(ch, q, streamBody(i));
        for (let i = 0; i < RETENTION_COUNT; i++) await publishConfirmed(ch, r, retentionBody(i));
        const last = streamBody(STREAM_COUNT - 1);
        const first = await readStream(conn, q, 'first', last);
        const saved = await readStream(conn, q, first[STREAM_SAVED][1], last);
        const detail = checkStreamReads(first, saved.map(([b]) => b));
        const kept = await readStream(conn, r, 'first', retentionBody(RETENTION_COUNT - 1));
        return `${detail}; ${checkRetention(kept.map(([b]) => b))}`;
      });
    });
  },

  async quorum() {
    return withConn(async (conn) => {
      const ch = await channel(conn, true);
      const q = `${p}.qq`; const dlq = `${p}.dlq`;
      return withDeclared(ch, { queues: [dlq], deletes: [q] }, async () => {
        await ch.assertQueue(q, { durable: true, arguments: quorumArgs(dlq) });
        await publishConfirmed(ch, q, 'poison');
        const cch = await channel(conn);
        await cch.prefetch(1);
        let deliveries = 0;
        await cch.consume(q, live((m) => { deliveries += 1; cch.reject(m, true); }));
        let dead = false;
        for (let i = 0; i < 500 && !(dead = await ch.get(dlq, { noAck: true })); i++) await sleep(20);
        check(dead, 'the message did not reach the dead-letter queue');
        return checkDeadLettered(deliveries, dead.content.toString(), (dead.properties.headers || {})['x-death'], q);
      });
    });
  },
};

const unsupported = {
  tx: 'amqplib implements no transactions (tx.select/commit/rollback are not in its API)',
};

function emit(result, detail) {
  process.stdout.write(JSON.stringify({ scenario, result, detail: detail || '' }) + '\n',
    () => process.exit({ pass: 0, fail: 1, 'n/a': 3 }[result]));
}

(async () => {
  if (unsupported[scenario]) return emit('n/a', `not supported by the library: ${unsupported[scenario]}`);
  const fn = scenarios[scenario];
  if (!fn) return emit('fail', `scenario ${scenario} not implemented by this client`);
  const timer = setTimeout(() => emit('fail', 'timed out after 60 s'), 60000);
  try {
    const detail = await fn();
    clearTimeout(timer);
    emit('pass', detail);
  } catch (e) {
    clearTimeout(timer);
    if (!(e instanceof Fail)) process.stderr.write(`${e.stack}\n`);
    emit('fail', e instanceof Fail ? e.message : `${e.name}: ${e.message}`);
  }
})();
