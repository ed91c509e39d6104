"""Helpers over RawClient shared by the integration tests: frame collection, Get, counts, errors."""

from __future__ import annotations

from typing import Any

from pamqp import body as pamqp_body
from pamqp import commands
from pamqp.heartbeat import Heartbeat

from tests.support.raw import RawClient


def until(raw: RawClient, kind: type, channel: int | None = None) -> list[tuple[int, Any]]:
    """Frames (channel, frame) received up to and including the next `kind` frame."""
    out = []
    while True:
        ch, value = raw.recv_frame()
        if isinstance(value, Heartbeat):
            continue
        out.append((ch, value))
        if isinstance(value, kind) and (channel is None or ch == channel):
            return out


def deliveries(frames: list[tuple[int, Any]]) -> list[tuple]:
    """(consumer_tag or None, delivery_tag, redelivered, body) per Deliver / Get-Ok in the frames."""
    out: list[list] = []
    for _, value in frames:
        if isinstance(value, (commands.Basic.Deliver, commands.Basic.GetOk)):
            out.append([getattr(value, "consumer_tag", None), value.delivery_tag, value.redelivered])
        elif isinstance(value, pamqp_body.ContentBody):
            out[-1].append(bytes(value.value))
    return [tuple(d) for d in out]


def delivered(raw: RawClient, queue: str = "q", channel: int = 1) -> list[tuple]:
    """Deliveries that arrived before the reply to a passive declare (a synchronisation point)."""
    raw.send(channel, commands.Queue.Declare(queue=queue, passive=True))
    return deliveries(until(raw, commands.Queue.DeclareOk, channel))


def declare(raw: RawClient, queue: str = "q", channel: int = 1, **flags: Any) -> commands.Queue.DeclareOk:
    """Queue.Declare with these flags, asserted to be answered by Declare-Ok."""
    raw.send(channel, commands.Queue.Declare(queue=queue, **flags))
    return raw.expect(commands.Queue.DeclareOk, channel)


def counts(raw: RawClient, queue: str = "q", channel: int = 1) -> tuple[int, int]:
    """(message_count, consumer_count) of a queue, from a passive declare."""
    ok = declare(raw, queue, channel, passive=True)
    return ok.message_count, ok.consumer_count


def ready(raw: RawClient, queue: str = "q", channel: int = 1) -> int:
    """How many messages of a queue are ready, from a passive declare."""
    return counts(raw, queue, channel)[0]


def get(raw: RawClient, queue: str = "q", channel: int = 1, no_ack: bool = False) -> tuple | None:
    """One Basic.Get: (delivery_tag, redelivered, body, message_count), or None for Get-Empty."""
    raw.send(channel, commands.Basic.Get(queue=queue, no_ack=no_ack))
    _, value = raw.recv_frame()
    if isinstance(value, commands.Basic.GetEmpty):
        return None
    assert isinstance(value, commands.Basic.GetOk), value
    frames = until(raw, pamqp_body.ContentBody, channel)
    return value.delivery_tag, value.redelivered, bytes(frames[-1][1].value), value.message_count


def drain(raw: RawClient, queue: str = "q", channel: int = 1) -> list[tuple]:
    """(delivery_tag, redelivered, body) of every ready message, fetched with no_ack Gets."""
    out = []
    while (got := get(raw, queue, channel, no_ack=True)) is not None:
        out.append(got[:3])
    return out


def publish_n(raw: RawClient, n: int, queue: str = "q", channel: int = 1, start: int = 0) -> None:
    """Publish bodies m<start> .. m<start+n-1> to a queue through the default exchange."""
    for i in range(start, start + n):
        raw.publish(channel, "", queue, f"m{i}".encode())


def consume(raw: RawClient, tag: str, queue: str = "q", channel: int = 1, **flags: Any) -> str:
    """Basic.Consume asserted to be answered by Consume-Ok; returns the consumer tag it names."""
    raw.send(channel, commands.Basic.Consume(queue=queue, consumer_tag=tag, **flags))
    return raw.expect(commands.Basic.ConsumeOk, channel).consumer_tag


def expect_ok(raw: RawClient, method: Any, reply: type, channel: int = 1) -> Any:
    """Send a method and assert that the next frame on the channel is `reply` (returned)."""
    raw.send(channel, method)
    return raw.expect(reply, channel)


def close_of(raw: RawClient, channel: int, method: Any) -> tuple:
    """Send a method and return the Channel.Close it provokes as (code, text, class_id, method_id)."""
    raw.send(channel, method)
    close = raw.expect_channel_close(channel)
    return close.reply_code, close.reply_text, close.class_id, close.method_id
