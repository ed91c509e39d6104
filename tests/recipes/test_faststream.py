"""FastStream: the app's router on a real RabbitBroker(amqp_url) (not TestRabbitBroker, which fakes it)."""

import asyncio

import pytest
from faststream.rabbit import RabbitBroker, RabbitRouter

router = RabbitRouter()


@router.subscriber("orders")
@router.publisher("invoices")
async def bill(order: dict) -> dict:
    """The code under test: an order in, an invoice out."""
    return {"order": order["id"], "total": sum(order["prices"])}


@pytest.fixture
def anyio_backend():
    return "asyncio"  # FastStream runs on asyncio (anyio's plugin would try trio too)


@pytest.mark.anyio
async def test_an_order_is_billed(amqp_url):
    broker = RabbitBroker(amqp_url)
    broker.include_router(router)
    invoices = asyncio.Queue()

    @broker.subscriber("invoices")
    async def collect(invoice: dict):
        await invoices.put(invoice)

    async with broker:
        await broker.start()
        await broker.publish({"id": 7, "prices": [3, 4]}, queue="orders")
        invoice = await asyncio.wait_for(invoices.get(), 5)
    assert invoice == {"order": 7, "total": 7}
