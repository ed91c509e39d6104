"""nameko: a service tested with nameko's own fixtures (rabbit_config, container_factory) and
standalone proxies, run by `nameko test --amqp-uri ... --rabbit-api-uri ...` against amqpd."""

from nameko.events import event_handler
from nameko.rpc import rpc
from nameko.standalone.events import event_dispatcher
from nameko.standalone.rpc import ServiceRpcProxy
from nameko.testing.services import entrypoint_waiter


class GreetingService:
    """The code under test: an RPC method and an event handler."""

    name = "greeter"
    welcomed = []

    @rpc
    def hello(self, name):
        return f"Hello, {name}!"

    @event_handler("accounts", "signed_up")
    def welcome(self, payload):
        self.welcomed.append(payload["name"])


def test_rpc(rabbit_config, container_factory):
    container = container_factory(GreetingService, rabbit_config)
    container.start()
    with ServiceRpcProxy("greeter", rabbit_config) as greeter:
        assert greeter.hello("Ada") == "Hello, Ada!"


def test_event_handler(rabbit_config, container_factory):
    container = container_factory(GreetingService, rabbit_config)
    container.start()
    with entrypoint_waiter(container, "welcome", timeout=5):
        event_dispatcher(rabbit_config)("accounts", "signed_up", {"name": "Grace"})
    assert GreetingService.welcomed == ["Grace"]
