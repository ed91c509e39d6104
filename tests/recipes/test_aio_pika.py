"""aio-pika under anyio's pytest plugin (asyncio): a request published, answered by a consumer."""

import aio_pika
import pytest


async def serve_prices(channel):
    """The code under test: answers each message on "prices" with a price, to its reply_to."""
    queue = await channel.declare_queue("prices")

    async def answer(request: aio_pika.abc.AbstractIncomingMessage):
        async with request.process():
            price = {b"tea": b"3.50"}.get(request.body, b"unknown")
            await channel.default_exchange.publish(
                aio_pika.Message(price, correlation_id=request.correlation_id),
                routing_key=request.reply_to)

    await queue.consume(answer)


@pytest.fixture
def anyio_backend():
    return "asyncio"  # aio-pika is asyncio-only (anyio's plugin would try trio too)


@pytest.mark.anyio
async def test_a_price_request_is_answered(amqp_url):
    async with await aio_pika.connect(amqp_url) as connection:
        channel = await connection.channel()
        await serve_prices(channel)
        replies = await channel.declare_queue(exclusive=True)

        await channel.default_exchange.publish(
            aio_pika.Message(b"tea", correlation_id="q1", reply_to=replies.name), routing_key="prices")

        async with replies.iterator(timeout=5) as answers:
            async for reply in answers:
                await reply.ack()
                break
    assert (reply.body, reply.correlation_id) == (b"3.50", "q1")
