<?php
// Interop client: php-amqplib (Debian's php-amqplib).  Usage: php client.php URL SCENARIO PREFIX
// Prints one JSON line {"result": "pass"|"fail"|"n/a", "detail": ...}; exit 0, 1 or 3.
require_once '/usr/share/php/PhpAmqpLib/autoload.php';

use PhpAmqpLib\Connection\AMQPSSLConnection;
use PhpAmqpLib\Connection\AMQPStreamConnection;
use PhpAmqpLib\Exception\AMQPBasicCancelException;
use PhpAmqpLib\Exception\AMQPProtocolChannelException;
use PhpAmqpLib\Exception\AMQPTimeoutException;
use PhpAmqpLib\Message\AMQPMessage;
use PhpAmqpLib\Wire\AMQPTable;

[, $URL, $SCENARIO, $PREFIX] = $argv;
$P = $PREFIX . '.' . (str_starts_with($SCENARIO, 'persist-') ? 'persist' : $SCENARIO);

class Fail extends Exception {}

// ---- fixtures, the same in every language (see interop/python/common.py)
const LARGE = 5 * 1024 * 1024;
const TOPIC_KEYS = ['orders.new.eu', 'orders.new.us', 'orders', 'invoices.new.eu', 'orders.new.eu.extra'];
function body256(): string { return implode('', array_map('chr', range(0, 255))); }
function headers(): array {
    return ['str' => 'text', 'int' => 42, 'neg' => -7, 'big' => 10000000000, 'bool' => true,
        'nested' => ['level' => 2, 'inner' => ['deep' => 'yes']], 'list' => [1, 'two', ['three' => 3]]];
}
function url_parts(string $url): array {
    $u = parse_url($url);
    $path = $u['path'] ?? '';
    return [$u['host'], $u['port'] ?? 5672, urldecode($u['user'] ?? 'guest'), urldecode($u['pass'] ?? 'guest'),
        ($path === '' || $path === '/') ? '/' : urldecode(substr($path, 1))];
}
function props(): array {
    return ['content_type' => 'application/octet-stream', 'content_encoding' => 'identity',
        'application_headers' => new AMQPTable(headers()), 'delivery_mode' => 2, 'priority' => 5,
        'correlation_id' => 'corr-1', 'reply_to' => 'reply-here', 'expiration' => '60000', 'message_id' => 'msg-1',
        'timestamp' => 1700000000, 'type' => 'interop.test', 'user_id' => url_parts($GLOBALS['URL'])[2],
        'app_id' => 'interop', 'cluster_id' => 'cluster-1'];
}

function check(bool $cond, string $msg): void { if (!$cond) throw new Fail($msg); }
function eq(string $what, $got, $want): void {
    if ($got !== $want) throw new Fail("$what: got " . json_encode($got) . ', want ' . json_encode($want));
}

function connect(string $url, int $heartbeat = 0): AMQPStreamConnection {
    [$host, $port, $user, $pass, $vhost] = url_parts($url);
    if (parse_url($url, PHP_URL_SCHEME) === 'amqps') {
        // TLS: the server certificate and host name are verified, against SSL_CERT_FILE if set
        $tls = ['verify_peer' => true, 'verify_peer_name' => true, 'peer_name' => $host];
        if (getenv('SSL_CERT_FILE')) $tls['cafile'] = getenv('SSL_CERT_FILE');
        return new AMQPSSLConnection($host, $port, $user, $pass, $vhost, $tls, [
            'login_method' => 'AMQPLAIN', 'connection_timeout' => 10.0, 'read_write_timeout' => 10.0,
            'heartbeat' => $heartbeat]);
    }
    // php-amqplib's defaults (AMQPLAIN login), 10 s read/write timeout
    return new AMQPStreamConnection($host, $port, $user, $pass, $vhost, false, 'AMQPLAIN', null, 'en_US',
        10.0, 10.0, null, false, $heartbeat);
}

/** Process incoming frames until $cond() holds. Consumers run inside wait(), and a channel's
 *  wait() dispatches only its own frames: pass every channel that has a consumer. */
function until_true($chs, callable $cond, string $what, float $timeout = 10.0): void {
    $end = microtime(true) + $timeout;
    while (!$cond()) {
        if (microtime(true) > $end) throw new Fail("timed out waiting for $what");
        foreach (is_array($chs) ? $chs : [$chs] as $ch) {
            try { $ch->wait(null, true, 0.02); } catch (AMQPTimeoutException $e) { }
        }
    }
}
function pump($ch, float $seconds): void {
    $end = microtime(true) + $seconds;
    while (microtime(true) < $end) {
        try { $ch->wait(null, false, 0.05); } catch (AMQPTimeoutException $e) { }
    }
}
function declare_queue($ch, string $q, bool $durable = false, array $args = []) {
    return $ch->queue_declare($q, false, $durable, false, false, false, new AMQPTable($args));
}
function drain($ch, string $q): array {
    $out = [];
    while (($m = $ch->basic_get($q, true)) !== null) $out[] = $m->getBody();
    return $out;
}
function count_msgs($ch, string $q): int { return $ch->queue_declare($q, true)[1]; }
function msg(string $body, array $props = []): AMQPMessage { return new AMQPMessage($body, $props); }

/** On a new connection's channel, declare the exchanges (name => type) and then the queues, run
 *  $body($ch, $c), and however it ends delete those queues, the queues in $deletes (which $body
 *  declares itself), then the exchanges, and close the connection. */
function with_declared(array $queues, array $exchanges, callable $body, array $deletes = []) {
    $c = connect($GLOBALS['URL']);
    $ch = $c->channel();
    try {
        foreach ($exchanges as $x => $kind) $ch->exchange_declare($x, $kind, false, false, false);
        foreach ($queues as $q) declare_queue($ch, $q);
        return $body($ch, $c);
    } finally {
        foreach (array_merge($queues, $deletes) as $q) $ch->queue_delete($q);
        foreach (array_keys($exchanges) as $x) $ch->exchange_delete($x);
        $c->close();
    }
}

function scenario_connect() {
    $c = connect($GLOBALS['URL']);
    $c->channel()->close();
    $sp = $c->getServerProperties();
    $c->close();
    return "server {$sp['product'][1]} {$sp['version'][1]}";
}

function scenario_bad_password() {
    $u = parse_url($GLOBALS['URL']);
    $wrong = str_replace(':' . $u['pass'] . '@', ':wrong-password@', $GLOBALS['URL']);
    try {
        $c = connect($wrong);
    } catch (Exception $e) {
        check(str_contains($e->getMessage(), 'ACCESS_REFUSED') || $e->getCode() == 403,
            'unexpected error ' . get_class($e) . ': ' . $e->getMessage());
        return 'refused: ' . get_class($e) . ': ' . $e->getMessage();
    }
    $c->close();
    throw new Fail('connection with a wrong password was accepted');
}

function scenario_declare() {
    global $P;
    $kinds = ['direct', 'fanout', 'topic', 'headers'];
    $exchanges = array_combine(array_map(fn($k) => "$P.$k", $kinds), $kinds);
    with_declared([], $exchanges, function ($ch, $c) use ($P) {
        $args = ['x-message-ttl' => 60000, 'x-max-length' => 100, 'x-max-priority' => 10, 'x-dead-letter-exchange' => "$P.fanout"];
        [$name, $count] = declare_queue($ch, "$P.q", false, $args);
        eq('declare-ok', [$name, $count], ["$P.q", 0]);
        declare_queue($ch, "$P.q", false, $args);
        $ch->queue_declare("$P.q", true);
        foreach (['direct', 'fanout', 'topic'] as $k) $ch->queue_bind("$P.q", "$P.$k", 'k');
        $ch->queue_bind("$P.q", "$P.headers", '', false, new AMQPTable(['x-match' => 'all', 'h' => 'v']));
        $ch->basic_publish(msg('other', ['application_headers' => new AMQPTable(['h' => 'other'])]), "$P.headers");
        $ch->basic_publish(msg('match', ['application_headers' => new AMQPTable(['h' => 'v'])]), "$P.headers");
        eq('routed by the headers exchange', drain($ch, "$P.q"), ['match']);
        [$anon] = $ch->queue_declare('', false, false, true);
        check(str_starts_with($anon, 'amq.gen-'), "server-named queue $anon");
    }, ["$P.q"]);
    return '';
}

function scenario_roundtrip() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        $ch->basic_publish(msg(body256(), props()), '', $q);
        $got = [];
        $ch->basic_consume($q, '', false, false, false, false, function ($m) use (&$got) { $got[] = $m; });
        until_true($ch, function () use (&$got) { return count($got) > 0; }, 'delivery');
        $m = $got[0];
        eq('body', bin2hex($m->getBody()), bin2hex(body256()));
        $gp = $m->get_properties();
        foreach (props() as $k => $v) {
            if ($k === 'application_headers') {
                eq('headers', $gp[$k]->getNativeData(), headers());
            } else {
                eq("property $k", $gp[$k] ?? null, $v);
            }
        }
        eq('delivery', [$m->getExchange(), $m->getRoutingKey(), $m->isRedelivered()], ['', $q, false]);
        $m->ack();
    });
    return '';
}

function scenario_topic() {
    global $P;
    with_declared(["$P.q1", "$P.q2"], ["$P.x" => 'topic'], function ($ch, $c) use ($P) {
        $ch->queue_bind("$P.q1", "$P.x", 'orders.*.eu');
        $ch->queue_bind("$P.q2", "$P.x", 'orders.#');
        foreach (TOPIC_KEYS as $k) $ch->basic_publish(msg($k), "$P.x", $k);
        eq('q1', drain($ch, "$P.q1"), ['orders.new.eu']);
        eq('q2', drain($ch, "$P.q2"), ['orders.new.eu', 'orders.new.us', 'orders', 'orders.new.eu.extra']);
    });
    return '';
}

function scenario_fanout() {
    global $P;
    $queues = ["$P.q0", "$P.q1", "$P.q2"];
    with_declared($queues, ["$P.x" => 'fanout'], function ($ch, $c) use ($P, $queues) {
        foreach ($queues as $i => $q) $ch->queue_bind($q, "$P.x", "key$i");
        $ch->basic_publish(msg('to all'), "$P.x", 'anything');
        foreach ($queues as $q) eq($q, drain($ch, $q), ['to all']);
    });
    return '';
}

function scenario_work_queue() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        for ($i = 0; $i < 10; $i++) $ch->basic_publish(msg((string)$i), '', $q);
        $slowCh = $c->channel();
        $fastCh = $c->channel();
        $slow = [];
        $fast = [];
        $slowCh->basic_qos(0, 1, false);
        $slowCh->basic_consume($q, '', false, false, false, false, function ($m) use (&$slow) { $slow[] = $m; });
        until_true($slowCh, function () use (&$slow) { return count($slow) > 0; }, 'first delivery to the slow consumer');
        $fastCh->basic_qos(0, 1, false);
        $fastCh->basic_consume($q, '', false, false, false, false, function ($m) use (&$fast) { $fast[] = $m->getBody(); $m->ack(); });
        // one connection: waiting on either channel reads frames for both
        until_true($fastCh, function () use (&$fast) { return count($fast) >= 9; }, '9 deliveries to the fast consumer');
        pump($fastCh, 0.2);
        eq('slow consumer (prefetch 1, never acks) got', array_map(fn($m) => $m->getBody(), $slow), ['0']);
        eq('fast consumer got', $fast, ['1', '2', '3', '4', '5', '6', '7', '8', '9']);
        $slow[0]->ack();
        eq('left in queue', count_msgs($ch, $q), 0);
    });
    return '';
}

function scenario_ack_nack_reject() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        foreach (['ack', 'nack', 'reject'] as $b) $ch->basic_publish(msg($b), '', $q);
        $cch = $c->channel();
        $cch->basic_qos(0, 10, false);
        $got = [];
        $cch->basic_consume($q, '', false, false, false, false, function ($m) use (&$got) { $got[] = $m; });
        until_true($cch, function () use (&$got) { return count($got) >= 3; }, '3 deliveries');
        eq('first deliveries', array_map(fn($m) => $m->getBody(), $got), ['ack', 'nack', 'reject']);
        $got[0]->ack();
        $got[1]->nack(true);
        $got[2]->reject(false);
        until_true($cch, function () use (&$got) { return count($got) >= 4; }, 'redelivery after nack');
        eq('redelivery', [$got[3]->getBody(), $got[3]->isRedelivered()], ['nack', true]);
        $got[3]->ack();
        pump($cch, 0.2);
        eq('deliveries', count($got), 4);
        eq('left in queue', count_msgs($ch, $q), 0);
    });
    return '';
}

function scenario_basic_get() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        $ch->basic_publish(msg('one'), '', $q);
        $ch->basic_publish(msg('two'), '', $q);
        $m = $ch->basic_get($q);
        eq('first get', [$m->getBody(), $m->getMessageCount(), $m->isRedelivered()], ['one', 1, false]);
        $m->ack();
        $m = $ch->basic_get($q);
        eq('second get', [$m->getBody(), $m->getMessageCount()], ['two', 0]);
        $m->reject(true);
        $m = $ch->basic_get($q);
        eq('get after reject', [$m->getBody(), $m->isRedelivered()], ['two', true]);
        $m->ack();
        check($ch->basic_get($q) === null, 'get on the empty queue returned a message');
    });
    return '';
}

function scenario_confirms() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        $acked = 0;
        $nacked = 0;
        $ch->set_ack_handler(function () use (&$acked) { $acked++; });
        $ch->set_nack_handler(function () use (&$nacked) { $nacked++; });
        $ch->confirm_select();
        for ($i = 0; $i < 50; $i++) $ch->basic_publish(msg((string)$i), '', $q);
        $ch->wait_for_pending_acks(10);
        eq('acked, nacked', [$acked, $nacked], [50, 0]);
        eq('queued', count_msgs($ch, $q), 50);
    });
    return '';
}

function scenario_mandatory_return() {
    global $P;
    with_declared([], ["$P.x" => 'direct'], function ($ch, $c) use ($P) {
        $returned = [];
        $ch->set_return_listener(function ($code, $text, $exchange, $key, $m) use (&$returned) {
            $returned[] = [$code, $text, $exchange, $key, $m->getBody()];
        });
        $ch->basic_publish(msg('bounce'), "$P.x", 'nowhere', true);
        until_true($ch, function () use (&$returned) { return count($returned) > 0; }, 'basic.return');
        eq('return', $returned[0], [312, 'NO_ROUTE', "$P.x", 'nowhere', 'bounce']);
    });
    return '';
}

function scenario_rpc() {
    global $P;
    $q = "$P.requests";
    with_declared([$q], [], function ($server, $c) use ($q) {
        $client = $c->channel();
        $server->basic_consume($q, '', false, false, false, false, function ($m) use ($server) {
            $server->basic_publish(msg(strtoupper($m->getBody()), ['correlation_id' => $m->get('correlation_id')]),
                '', $m->get('reply_to'));
            $m->ack();
        });
        [$callback] = $client->queue_declare('', false, false, true);
        $replies = [];
        $client->basic_consume($callback, '', false, true, false, false, function ($m) use (&$replies) {
            $replies[$m->get('correlation_id')] = $m->getBody();
        });
        $want = [];
        foreach (['alpha', 'beta', 'gamma'] as $w) {
            $cid = bin2hex(random_bytes(8));
            $want[$cid] = strtoupper($w);
            $client->basic_publish(msg($w, ['reply_to' => $callback, 'correlation_id' => $cid]), '', $q);
        }
        until_true([$server, $client], function () use (&$replies) { return count($replies) >= 3; }, '3 replies');
        ksort($replies);
        ksort($want);
        eq('replies by correlation_id', $replies, $want);
    });
    return '';
}

function scenario_tx() {
    global $P;
    $q = "$P.q";
    with_declared([$q], [], function ($ch, $c) use ($P, $q) {
        $ch->tx_select();
        $ch->basic_publish(msg('rolled back'), '', $q);
        $ch->tx_rollback();
        eq('after rollback', count_msgs($ch, $q), 0);
        $ch->basic_publish(msg('committed'), '', $q);
        eq('before commit', count_msgs($ch, $q), 0);
        $ch->tx_commit();
        eq('after commit', count_msgs($ch, $q), 1);
        $m = $ch->basic_get($q);
        eq('body', $m->getBody(), 'committed');
        $m->ack();
        $ch->tx_commit();
        eq('after acked commit', count_msgs($ch, $q), 0);
    });
    return '';
}

function scenario_consumer_cancel() {
    // php-amqplib reports a server-side basic.cancel by throwing AMQPBasicCancelException from wait()
    global $P;
    $c = connect($GLOBALS['URL']);
    $ch = $c->channel();
    $q = "$P.q";
    declare_queue($ch, $q);
    $tag = $ch->basic_consume($q, '', false, false, false, false, function ($m) { });
    $c->channel()->queue_delete($q);
    try {
        until_true($ch, fn() => false, 'basic.cancel from the server', 5);
    } catch (AMQPBasicCancelException $e) {
        eq('cancelled consumer tag', $e->getConsumerTag(), $tag);
    }
    check($ch->is_open(), 'channel closed after the server cancelled its consumer');
    $ch->queue_declare('', false, false, true);
    $c->close();
    return '';
}

function scenario_large_message() {
    global $P;
    $q = "$P.q";
    $pattern = implode('', array_map(fn($i) => chr($i % 251), range(0, 250)));
    $body = substr(str_repeat($pattern, intdiv(LARGE, 251) + 1), 0, LARGE);
    with_declared([$q], [], function ($ch, $c) use ($q, $body) {
        $ch->basic_publish(msg($body), '', $q);
        $got = [];
        $ch->basic_consume($q, '', false, true, false, false, function ($m) use (&$got) { $got[] = $m->getBody(); });
        until_true($ch, function () use (&$got) { return count($got) > 0; }, 'the 5 MiB delivery', 30);
        eq('size', strlen($got[0]), LARGE);
        check($got[0] === $body, 'body differs');
    });
    return '';
}

function scenario_heartbeat() {
    $c = connect($GLOBALS['URL'], 1);
    eq('negotiated heartbeat', $c->getHeartbeat(), 1);
    $ch = $c->channel();
    // php-amqplib has no I/O thread: an idle program calls checkHeartBeat() (or uses PCNTLHeartbeatSender)
    $end = microtime(true) + 3.0;
    while (microtime(true) < $end) {
        $c->checkHeartBeat();
        usleep(100000);
    }
    [$q] = $ch->queue_declare('', false, false, true);
    $ch->basic_publish(msg('still alive'), '', $q);
    eq('after idle', $ch->basic_get($q, true)->getBody(), 'still alive');
    $c->close();
    return 'negotiated 1 s, idle 3 s (checkHeartBeat loop), connection alive';
}

function scenario_channel_error() {
    global $P;
    $c = connect($GLOBALS['URL']);
    $ch = $c->channel();
    try {
        $ch->queue_declare("$P.missing", true);
        throw new Fail('passive declare of a missing queue succeeded');
    } catch (AMQPProtocolChannelException $e) {
        eq('reply code', $e->getCode(), 404);
        $detail = $e->getMessage();
    }
    check(!$ch->is_open(), 'channel still open');
    check($c->isConnected(), 'connection closed');
    $c->channel()->queue_declare('', false, false, true);
    $c->close();
    return $detail;
}

function scenario_persist_publish() {
    global $P;
    $c = connect($GLOBALS['URL']);
    $ch = $c->channel();
    $ch->exchange_declare("$P.x", 'direct', false, true, false);
    declare_queue($ch, "$P.q", true);
    $ch->queue_bind("$P.q", "$P.x", 'k');
    declare_queue($ch, "$P.transient-q", false);
    $ch->confirm_select();
    $ch->basic_publish(msg('persisted', ['delivery_mode' => AMQPMessage::DELIVERY_MODE_PERSISTENT]), "$P.x", 'k');
    $ch->basic_publish(msg('transient', ['delivery_mode' => AMQPMessage::DELIVERY_MODE_NON_PERSISTENT]), "$P.x", 'k');
    $ch->wait_for_pending_acks(10);
    $c->close();
    return '';
}

function scenario_persist_check() {
    global $P;
    $c = connect($GLOBALS['URL']);
    $ch = $c->channel();
    try {
        eq('messages in the durable queue after restart', count_msgs($ch, "$P.q"), 1);
        $m = $ch->basic_get("$P.q");
        eq('message', [$m->getBody(), $m->get('delivery_mode')], ['persisted', 2]);
        $m->ack();
        $ch->basic_publish(msg('via binding'), "$P.x", 'k');
        check($ch->basic_get("$P.q", true) !== null, 'the durable binding did not survive the restart');
        try {
            $c->channel()->queue_declare("$P.transient-q", true);
            throw new Fail('the non-durable queue survived the restart');
        } catch (AMQPProtocolChannelException $e) {
            eq('passive declare of the non-durable queue', $e->getCode(), 404);
        }
    } finally {
        $d = $c->channel();
        $d->queue_delete("$P.q");
        $d->queue_delete("$P.transient-q");
        $d->exchange_delete("$P.x");
        $c->close();
    }
    return '';
}

// ---- stream and quorum (see python/common.py)
const STREAM_COUNT = 10, STREAM_SAVED = 5, RETENTION_COUNT = 100, RETENTION_SIZE = 100, DELIVERY_LIMIT = 2;
function stream_body(int $i): string { return "s$i"; }
function retention_body(int $i): string { return str_pad(sprintf('r%03d', $i), RETENTION_SIZE, '.'); }
function publish_confirmed($ch, string $q, string $body): void {
    $ch->basic_publish(msg($body, ['delivery_mode' => 2]), '', $q);
    $ch->wait_for_pending_acks(10.0);
}
function headers_of(AMQPMessage $m): array {
    return $m->has('application_headers') ? $m->get('application_headers')->getNativeData() : [];
}
/** Consumes the stream from x-stream-offset with prefetch: [body, offset header] up to body $last. */
function read_stream($c, string $q, $offset, string $last): array {
    $ch = $c->channel();
    $ch->basic_qos(0, RETENTION_COUNT, false);
    $got = [];
    $ch->basic_consume($q, '', false, false, false, false, function ($m) use (&$got) {
        $got[] = [$m->getBody(), headers_of($m)['x-stream-offset']];
        $m->ack();
    }, null, new AMQPTable(['x-stream-offset' => $offset]));
    until_true($ch, function () use (&$got, $last) { return $got && end($got)[0] === $last; },
        "$last from offset $offset");
    $ch->close();
    return $got;
}

function scenario_stream() {
    global $P;
    $q = "$P.s";
    $r = "$P.retention";
    return with_declared([], [], function ($ch, $c) use ($q, $r) {
        declare_queue($ch, $q, true, ['x-queue-type' => 'stream']);
        declare_queue($ch, $r, true, ['x-queue-type' => 'stream', 'x-max-length-bytes' => 2000,
            'x-stream-max-segment-size-bytes' => 500]);
        $ch->confirm_select();
        for ($i = 0; $i < STREAM_COUNT; $i++) publish_confirmed($ch, $q, stream_body($i));
        for ($i = 0; $i < RETENTION_COUNT; $i++) publish_confirmed($ch, $r, retention_body($i));
        $want = array_map('stream_body', range(0, STREAM_COUNT - 1));
        $first = read_stream($c, $q, 'first', end($want));
        eq('bodies read from first', array_column($first, 0), $want);
        $offsets = array_column($first, 1);
        for ($i = 1; $i < count($offsets); $i++)
            check($offsets[$i] > $offsets[$i - 1], 'x-stream-offset not increasing: ' . json_encode($offsets));
        $saved = read_stream($c, $q, $offsets[STREAM_SAVED], end($want));
        eq("bodies read from offset {$offsets[STREAM_SAVED]}", array_column($saved, 0), array_slice($want, STREAM_SAVED));
        $kept = array_column(read_stream($c, $r, 'first', retention_body(RETENTION_COUNT - 1)), 0);
        check(count($kept) < RETENTION_COUNT && $kept[0] !== retention_body(0),
            'retention dropped nothing: ' . count($kept) . ' of ' . RETENTION_COUNT . ' messages still there');
        return "offsets {$offsets[0]}.." . end($offsets) . '; retention kept ' . count($kept) . ' of ' . RETENTION_COUNT;
    }, [$q, $r]);
}

function scenario_quorum() {
    global $P;
    $q = "$P.qq";
    $dlq = "$P.dlq";
    return with_declared([$dlq], [], function ($ch, $c) use ($q, $dlq) {
        declare_queue($ch, $q, true, ['x-queue-type' => 'quorum', 'x-delivery-limit' => DELIVERY_LIMIT,
            'x-dead-letter-exchange' => '', 'x-dead-letter-routing-key' => $dlq]);
        $ch->confirm_select();
        publish_confirmed($ch, $q, 'poison');
        $cch = $c->channel();
        $cch->basic_qos(0, 1, false);
        $deliveries = 0;
        $cch->basic_consume($q, '', false, false, false, false, function ($m) use (&$deliveries) {
            $deliveries++;
            $m->reject(true);
        });
        $dead = null;
        until_true($cch, function () use ($ch, $dlq, &$dead) { return ($dead = $ch->basic_get($dlq, true)) !== null; },
            'the message in the dead-letter queue');
        eq('deliveries before dead-lettering', $deliveries, DELIVERY_LIMIT + 1);
        eq('dead-lettered body', $dead->getBody(), 'poison');
        $death = (headers_of($dead)['x-death'] ?? [])[0] ?? null;
        check($death !== null, 'no x-death header');
        eq('x-death reason and queue', [$death['reason'], $death['queue']], ['delivery_limit', $q]);
        return "$deliveries deliveries, then dead-lettered (delivery_limit)";
    }, [$q]);
}

function emit(string $result, string $detail): void {
    global $SCENARIO;
    echo json_encode(['scenario' => $SCENARIO, 'result' => $result, 'detail' => $detail],
        JSON_UNESCAPED_SLASHES | JSON_INVALID_UTF8_SUBSTITUTE), "\n";
    exit(['pass' => 0, 'fail' => 1, 'n/a' => 3][$result]);
}

$fn = 'scenario_' . str_replace('-', '_', $SCENARIO);
if (!function_exists($fn)) emit('fail', "scenario $SCENARIO not implemented by this client");
set_time_limit(60);
try {
    emit('pass', $fn());
} catch (Fail $e) {
    emit('fail', $e->getMessage());
} catch (Throwable $e) {
    fwrite(STDERR, (string)$e . "\n");
    emit('fail', get_class($e) . ': ' . $e->getMessage());
}
