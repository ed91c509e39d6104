"""RabbitMQ removes CR and LF from exchange and queue names in the methods that create, bind and
delete them (queue and exchange declare, passive too; bind/unbind; delete), not in the others
(purge, publish, get, consume). Checked with py-amqp on RabbitMQ 3.10.8; the Java client's
ExchangeDeclare/QueueLifecycle "LineFeed...Stripped" tests rely on it."""

import amqp
import pytest


@pytest.fixture
def chan(broker):
    conn = amqp.Connection(f"127.0.0.1:{broker.port}", userid="guest", password="guest")
    conn.connect()
    yield conn, conn.channel()
    conn.close()


def test_declare_bind_and_delete_strip_cr_and_lf(chan):
    conn, ch = chan
    assert ch.queue_declare("cr\nlf\r-q\n\r", auto_delete=False).queue == "crlf-q"
    assert ch.queue_declare("crlf-q", passive=True).queue == "crlf-q"
    assert ch.queue_declare("crlf\r-q", passive=True).queue == "crlf-q"
    ch.exchange_declare("crlf\n-x\r", "fanout", auto_delete=False)
    ch.exchange_declare("crlf-x", "fanout", passive=True, auto_delete=False)
    ch.exchange_declare("crlf-\ny", "fanout", auto_delete=False)
    ch.exchange_bind("crlf-\ny", "crlf\n-x", "k")
    ch.exchange_unbind("crlf-y\r", "crlf-x\r", "k")
    ch.queue_bind("crlf\n-q", "crlf-x\n")
    ch.basic_publish(amqp.Message(b"routed"), "crlf-x")
    assert ch.basic_get("crlf-q", no_ack=True).body == b"routed"
    ch.queue_unbind("crlf\n-q", "crlf-x\n")
    ch.exchange_delete("crlf-\ny")
    ch.exchange_delete("crlf\n-x")
    assert ch.queue_delete("crlf\n-q") == 0
    with pytest.raises(amqp.NotFound):
        ch.queue_declare("crlf-q", passive=True)


def test_only_crlf_makes_a_server_named_queue(chan):
    conn, ch = chan
    assert ch.queue_declare("\r\n", exclusive=True).queue.startswith("amq.gen-")


@pytest.mark.parametrize("call", ["purge", "get", "consume"])
def test_other_methods_keep_cr_and_lf(chan, call):
    conn, ch = chan
    ch.queue_declare("keep-q", exclusive=True)
    method = {"purge": lambda: ch.queue_purge("keep\n-q"), "get": lambda: ch.basic_get("keep\n-q"),
              "consume": lambda: ch.basic_consume("keep\n-q")}[call]
    with pytest.raises(amqp.NotFound) as raised:
        method()
    assert "no queue 'keep\n-q' in vhost '/'" in str(raised.value)
