"""kombu: a producer on a topic exchange, a consumer bound with a pattern, events drained."""

from kombu import Connection, Consumer, Exchange, Queue

events = Exchange("events", type="topic")
signups = Queue("signups", events, routing_key="user.*.created")


def announce(connection, user_id):
    """The code under test: an event on the topic exchange, the queue declared with it."""
    connection.Producer().publish({"user": user_id}, exchange=events,
                                  routing_key=f"user.{user_id}.created", declare=[signups])


def test_a_signup_event_is_consumed(amqp_url):
    received = []

    def on_event(body, message):
        received.append(body)
        message.ack()

    with Connection(amqp_url) as connection:
        announce(connection, 42)
        with Consumer(connection, [signups], callbacks=[on_event]):
            connection.drain_events(timeout=5)
    assert received == [{"user": 42}]
