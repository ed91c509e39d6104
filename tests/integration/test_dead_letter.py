"""Dead-lettering (x-dead-letter-exchange / -routing-key) as RabbitMQ 3.10.8 does it.

The expected x-death tables below are RabbitMQ's own output for the same steps, field types and
order included (only the timestamps differ).
"""

from pamqp import body as pamqp_body
from pamqp import commands

from amqpd.broker import clock
from tests.support.frames import consume, declare, deliveries, expect_ok, get, ready, until
from tests.support.raw import RawClient
from tests.support.typed import get_raw, properties, without_time

DLQ = {"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "dlq"}


def arrived(raw, tag, channel=1):
    """Wait for the next delivery, asserted to be to consumer `tag`: (delivery_tag, body)."""
    consumer_tag, delivery_tag, _, body = deliveries(until(raw, pamqp_body.ContentBody, channel))[-1]
    assert consumer_tag == tag
    return delivery_tag, body


def reject(raw, tag, requeue=False, channel=1):
    raw.send(channel, commands.Basic.Reject(delivery_tag=tag, requeue=requeue))


def test_rejected_message_gets_rabbitmq_x_death_headers(opened):
    """Reject(requeue=false): the copy in the DLX queue carries x-death and x-first-death-*, keeps
    every other property and header (types included), loses its expiration; CC is dropped when a
    dead-letter routing key is set, but recorded in routing-keys."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq")
    props = commands.Basic.Properties(headers={"zz": "v", "CC": ["c1"], "aa": 5}, expiration="60000",
                                      priority=3, message_id="mid")
    opened.publish(1, "", "src", b"m1", props)
    tag = get(opened, "src")[0]
    reject(opened, tag)
    raw_props, body = get_raw(opened, "dlq")
    assert body == b"m1"
    got = without_time(properties(raw_props))
    assert got == {
        "headers": [
            ("aa", ("b", 5)),
            ("x-death", ("A", [("F", [
                ("count", ("l", 1)),
                ("reason", ("S", b"rejected")),
                ("queue", ("S", b"src")),
                ("time", "T"),
                ("exchange", ("S", b"")),
                ("routing-keys", ("A", [("S", b"src"), ("S", b"c1")])),
                ("original-expiration", ("S", b"60000")),
            ])])),
            ("x-first-death-exchange", ("S", b"")),
            ("x-first-death-queue", ("S", b"src")),
            ("x-first-death-reason", ("S", b"rejected")),
            ("zz", ("S", b"v")),
        ],
        "priority": 3,
        "message_id": b"mid",
    }


def test_x_death_time_is_now_in_seconds(opened):
    """The time field is a timestamp of the dead-lettering, in whole seconds."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq")
    opened.publish(1, "", "src", b"x")
    before = int(clock.wall())  # the broker's clock: tests in this process may have moved it on
    reject(opened, get(opened, "src")[0])
    headers = properties(get_raw(opened, "dlq")[0])["headers"]
    death = dict(dict(headers)["x-death"][1][0][1])
    assert before <= death["time"][1] <= int(clock.wall())


def test_repeated_deaths_count_up_per_queue_and_reason(opened):
    """A message going round src -(rejected)-> dlq -(expired)-> src twice: each (queue, reason)
    entry is counted up and re-sorted, the newest first; the first death stays in x-first-death."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "src",
                                      "x-message-ttl": 20})
    consume(opened, "back", "src")
    opened.publish(1, "", "src", b"m", commands.Basic.Properties(expiration="60000"))
    for _ in range(2):
        tag, _ = arrived(opened, "back")
        reject(opened, tag)
    tag, _ = arrived(opened, "back")
    opened.send(1, commands.Basic.Cancel(consumer_tag="back"))
    opened.expect(commands.Basic.CancelOk, 1)
    reject(opened, tag, requeue=True)
    headers = dict(without_time(properties(get_raw(opened, "src")[0])["headers"]))
    assert headers["x-death"] == ("A", [
        ("F", [("count", ("l", 2)), ("exchange", ("S", b"")), ("queue", ("S", b"dlq")),
               ("reason", ("S", b"expired")), ("routing-keys", ("A", [("S", b"dlq")])), ("time", "T")]),
        ("F", [("count", ("l", 2)), ("exchange", ("S", b"")), ("original-expiration", ("S", b"60000")),
               ("queue", ("S", b"src")), ("reason", ("S", b"rejected")),
               ("routing-keys", ("A", [("S", b"src")])), ("time", "T")]),
    ])
    assert headers["x-first-death-reason"] == ("S", b"rejected")
    assert headers["x-first-death-queue"] == ("S", b"src")


def test_nack_multiple_dead_letters_in_delivery_order(opened):
    """Nack(multiple, requeue=false) dead-letters every covered delivery, in order."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq")
    for i in range(3):
        opened.publish(1, "", "src", f"m{i}".encode())
    tags = [get(opened, "src")[0] for _ in range(3)]
    opened.send(1, commands.Basic.Nack(delivery_tag=tags[-1], multiple=True, requeue=False))
    assert [get(opened, "dlq", no_ack=True)[2] for _ in range(3)] == [b"m0", b"m1", b"m2"]
    assert ready(opened, "src") == 0


def test_requeue_and_ack_do_not_dead_letter(opened):
    """Only a rejection without requeue dead-letters; a requeue or an ack does not."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq")
    opened.publish(1, "", "src", b"a")
    tag = get(opened, "src")[0]
    reject(opened, tag, requeue=True)
    tag = get(opened, "src")[0]
    opened.send(1, commands.Basic.Ack(delivery_tag=tag))
    assert ready(opened, "dlq") == 0 and ready(opened, "src") == 0


def test_without_routing_key_the_original_keys_route_and_cc_stays(opened):
    """No x-dead-letter-routing-key: the copy routes on its original routing key and CC keys
    through the DLX and keeps its CC header."""
    expect_ok(opened, commands.Exchange.Declare(exchange="dlx", exchange_type="direct"), commands.Exchange.DeclareOk)
    declare(opened, "src", arguments={"x-dead-letter-exchange": "dlx"})
    for key in ("src", "other"):
        declare(opened, f"by-{key}")
        expect_ok(opened, commands.Queue.Bind(queue=f"by-{key}", exchange="dlx", routing_key=key),
                  commands.Queue.BindOk)
    opened.publish(1, "", "src", b"x", commands.Basic.Properties(headers={"CC": ["other"]}))
    reject(opened, get(opened, "src")[0])
    for key in ("src", "other"):
        raw_props, body = get_raw(opened, f"by-{key}")
        headers = dict(properties(raw_props)["headers"])
        assert body == b"x" and headers["CC"] == ("A", [("S", b"other")])
        death = dict(headers["x-death"][1][0][1])
        assert death["exchange"] == ("S", b"") and death["routing-keys"] == ("A", [("S", b"src"), ("S", b"other")])


def test_dead_letter_delivery_shows_dlx_and_new_routing_key(opened):
    """The dead-lettered copy is delivered with the DLX as exchange and the dead-letter key."""
    expect_ok(opened, commands.Exchange.Declare(exchange="dlx", exchange_type="fanout"), commands.Exchange.DeclareOk)
    declare(opened, "src", arguments={"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": "rk"})
    declare(opened, "dlq")
    expect_ok(opened, commands.Queue.Bind(queue="dlq", exchange="dlx"), commands.Queue.BindOk)
    consume(opened, "d", "dlq", no_ack=True)
    opened.publish(1, "", "src", b"x")
    reject(opened, get(opened, "src")[0])
    deliver = until(opened, commands.Basic.Deliver, 1)[-1][1]
    assert (deliver.exchange, deliver.routing_key) == ("dlx", "rk")


def test_missing_dead_letter_exchange_drops_the_message(opened):
    """A dead-letter exchange that does not exist: the message is simply dropped."""
    declare(opened, "src", arguments={"x-dead-letter-exchange": "nosuch"})
    opened.publish(1, "", "src", b"x")
    reject(opened, get(opened, "src")[0])
    assert ready(opened, "src") == 0 and get(opened, "src") is None


def test_automatic_cycle_is_dropped(opened):
    """src (ttl) -> dlx fanout -> {src, witness}: back in src with no rejection on the way is a
    cycle, so src does not get it again while the witness does (and only once)."""
    expect_ok(opened, commands.Exchange.Declare(exchange="dlx", exchange_type="fanout"), commands.Exchange.DeclareOk)
    declare(opened, "src", arguments={"x-dead-letter-exchange": "dlx", "x-message-ttl": 10})
    declare(opened, "witness")
    for queue in ("src", "witness"):
        expect_ok(opened, commands.Queue.Bind(queue=queue, exchange="dlx"), commands.Queue.BindOk)
    consume(opened, "w", "witness", no_ack=True)
    opened.publish(1, "", "src", b"loop")
    assert arrived(opened, "w")[1] == b"loop"
    assert ready(opened, "src") == 0  # the expiry and the dead-lettering happen in one step


def test_two_queue_cycle_is_dropped_on_return(opened):
    """a (ttl) -> b (max-length 0) -> fanout {a, witness}: the message reaches the witness once and
    is dropped at a, where it had already expired."""
    expect_ok(opened, commands.Exchange.Declare(exchange="back", exchange_type="fanout"), commands.Exchange.DeclareOk)
    declare(opened, "a", arguments={"x-message-ttl": 10, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "b"})
    declare(opened, "b", arguments={"x-max-length": 0, "x-dead-letter-exchange": "back"})
    declare(opened, "witness")
    for queue in ("a", "witness"):
        expect_ok(opened, commands.Queue.Bind(queue=queue, exchange="back"), commands.Queue.BindOk)
    consume(opened, "w", "witness")
    opened.publish(1, "", "a", b"loop")
    tag, body = arrived(opened, "w")
    assert body == b"loop"
    assert ready(opened, "a") == 0 and ready(opened, "b") == 0


def test_rejection_in_the_loop_is_not_a_cycle(opened):
    """a -(rejected)-> b -(expired)-> a: a rejection on the way means it is delivered to a again."""
    declare(opened, "a", arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": "b"})
    declare(opened, "b", arguments={"x-message-ttl": 10, "x-dead-letter-exchange": "", "x-dead-letter-routing-key": "a"})
    consume(opened, "c", "a")
    opened.publish(1, "", "a", b"x")
    tag, _ = arrived(opened, "c")
    reject(opened, tag)
    tag, body = arrived(opened, "c")
    assert body == b"x"


def test_invalid_x_death_header_is_reset(opened):
    """A client-set x-death that is not an array is replaced by a fresh one-entry array, without
    x-first-death-* headers (RabbitMQ only adds those when there was no x-death)."""
    declare(opened, "src", arguments=DLQ)
    declare(opened, "dlq")
    opened.publish(1, "", "src", b"x", commands.Basic.Properties(headers={"x-death": "junk"}))
    reject(opened, get(opened, "src")[0])
    headers = without_time(properties(get_raw(opened, "dlq")[0])["headers"])
    assert [key for key, _ in headers] == ["x-death"]
    assert headers[0][1][1][0][1][0] == ("count", ("l", 1))


def test_persistent_copy_in_durable_queue_survives_restart(broker_factory, tmp_path):
    """A persistent message dead-lettered to a durable queue is stored there; the original's copy
    in the source queue is gone from the store."""
    first = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(first.port) as raw:
        declare(raw, "src", durable=True, arguments=DLQ)
        declare(raw, "dlq", durable=True)
        raw.publish(1, "", "src", b"keep", commands.Basic.Properties(delivery_mode=2))
        reject(raw, get(raw, "src")[0])
        assert ready(raw, "dlq") == 1
    first.stop()
    second = broker_factory(data_dir=str(tmp_path))
    with RawClient.connect(second.port) as raw:
        assert ready(raw, "src") == 0
        raw_props, body = get_raw(raw, "dlq")
        assert body == b"keep" and dict(properties(raw_props)["headers"])["x-first-death-reason"] == ("S", b"rejected")
