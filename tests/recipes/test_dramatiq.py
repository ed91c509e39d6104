"""Dramatiq: RabbitmqBroker(url=...) on the test's vhost and a real dramatiq.Worker."""

import threading

import dramatiq
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker


@pytest.fixture
def broker(amqp_url):
    broker = RabbitmqBroker(url=amqp_url)
    dramatiq.set_broker(broker)  # actors declared from now on send through it
    yield broker
    broker.close()


def test_the_worker_runs_the_actor(broker):
    resized = []
    done = threading.Event()

    @dramatiq.actor(queue_name="images")
    def resize(path, width):
        """The code under test: an actor."""
        resized.append((path, width))
        done.set()

    worker = dramatiq.Worker(broker, worker_timeout=100)
    worker.start()
    try:
        resize.send("cat.png", 320)
        assert done.wait(5)
    finally:
        worker.stop()
    assert resized == [("cat.png", 320)]
