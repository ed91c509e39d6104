"""aio-pika (asyncio) against amqpd: confirms, an async consumer, acks, and a channel error."""

import asyncio

import aio_pika
import aio_pika.exceptions
from pamqp import commands


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_publish_with_confirms_and_consume_with_async_iterator(broker):
    """Confirmed publishes come back through queue.iterator() in order, and acks empty the queue."""
    async def main():
        conn = await aio_pika.connect_robust(broker.url)
        async with conn:
            channel = await conn.channel(publisher_confirms=True)
            queue = await channel.declare_queue("aio-q", auto_delete=False)
            for i in range(5):
                confirmation = await channel.default_exchange.publish(
                    aio_pika.Message(f"m{i}".encode(), headers={"n": i}), routing_key="aio-q")
                assert isinstance(confirmation, commands.Basic.Ack)
            got = []
            async with queue.iterator() as messages:
                async for message in messages:
                    got.append((message.body, message.headers["n"], message.redelivered))
                    await message.ack()
                    if len(got) == 5:
                        break
            declared = await channel.declare_queue("aio-q", passive=True)
            return got, declared.declaration_result.message_count
    got, remaining = run(main())
    assert got == [(f"m{i}".encode(), i, False) for i in range(5)]
    assert remaining == 0


def test_nack_with_requeue_is_redelivered(broker):
    """message.nack(requeue=True) brings the same message back marked redelivered."""
    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            channel = await conn.channel()
            queue = await channel.declare_queue("", exclusive=True)
            await channel.default_exchange.publish(aio_pika.Message(b"again"), routing_key=queue.name)
            first = await queue.get(timeout=5)
            await first.nack(requeue=True)
            second = await queue.get(timeout=5)
            await second.ack()
            return first.redelivered, second.redelivered, second.body
    assert run(main()) == (False, True, b"again")


def test_channel_error_closes_the_channel_but_not_the_connection(broker):
    """A passive declare of a missing queue raises 404 and closes that channel only."""
    async def main():
        conn = await aio_pika.connect(broker.url)
        async with conn:
            channel = await conn.channel()
            try:
                await channel.declare_queue("nosuch-aio", passive=True)
            except aio_pika.exceptions.ChannelNotFoundEntity as exc:
                error = str(exc)
            else:
                error = None
            still_open = not conn.is_closed
            other = await conn.channel()
            queue = await other.declare_queue("", exclusive=True)
            await other.default_exchange.publish(aio_pika.Message(b"ok"), routing_key=queue.name)
            message = await queue.get(timeout=5, no_ack=True)
            return error, channel.is_closed, still_open, message.body
    error, channel_closed, conn_open, body = run(main())
    assert error is not None and "NOT_FOUND - no queue 'nosuch-aio' in vhost '/'" in error
    assert channel_closed and conn_open
    assert body == b"ok"
