"""pika + amqpd.clock: a retry loop made of a TTL and dead-lettering, its 30 s wait skipped."""

import pika


def declare_queues(channel):
    """The code under test: "jobs" dead-letters what its worker rejects to "jobs.retry", which
    holds each message 30 s and dead-letters it back to "jobs"."""
    channel.queue_declare("jobs", arguments={"x-dead-letter-exchange": "",
                                             "x-dead-letter-routing-key": "jobs.retry"})
    channel.queue_declare("jobs.retry", arguments={"x-message-ttl": 30_000,
                                                   "x-dead-letter-exchange": "",
                                                   "x-dead-letter-routing-key": "jobs"})


def work_one(channel, handle):
    """The worker: take a job; if handle(body) fails, reject it so that it is retried later."""
    method, properties, body = next(channel.consume("jobs", inactivity_timeout=5))
    try:
        handle(body)
    except ConnectionError:
        channel.basic_reject(method.delivery_tag, requeue=False)
    else:
        channel.basic_ack(method.delivery_tag)
    return properties


def test_a_failed_job_is_retried_30_seconds_later(amqp_url, amqpd):
    attempts = []

    def charge(body):  # the payment service is down on the first attempt
        attempts.append(body)
        if len(attempts) == 1:
            raise ConnectionError("payment service unavailable")

    with pika.BlockingConnection(pika.URLParameters(amqp_url)) as connection:
        channel = connection.channel()
        declare_queues(channel)
        channel.basic_publish("", "jobs", b"invoice-17")
        work_one(channel, charge)
        amqpd.wait_until_idle()  # the rejected job has been dead-lettered
        assert [m.body for m in amqpd.peek("jobs.retry")] == [b"invoice-17"]

        amqpd.clock.advance(29.9)
        assert [m.body for m in amqpd.peek("jobs.retry")] == [b"invoice-17"]  # not due yet
        amqpd.clock.advance(0.1)
        properties = work_one(channel, charge)

        assert attempts == [b"invoice-17", b"invoice-17"]
        assert [(death["queue"], death["reason"]) for death in properties.headers["x-death"]] == [
            ("jobs.retry", "expired"), ("jobs", "rejected")]
        amqpd.wait_until_idle()
        assert amqpd.peek("jobs") == amqpd.peek("jobs.retry") == []
