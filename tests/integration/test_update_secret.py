"""Connection.Update-Secret: RabbitMQ 3.10.8 answers Update-Secret-Ok and keeps the connection
(its internal backend does not check the new secret), as pika's and aiormq's token refresh expect."""

from __future__ import annotations

import pika
from pamqp import commands

from tests.support.raw import RawClient


def test_update_secret_is_answered_and_the_connection_stays(broker):
    """Update-Secret-Ok on channel 0, even for a secret that is not the password, and the
    channels keep working afterwards."""
    with RawClient(broker.port) as raw:
        raw.handshake()
        raw.open_channel(1)
        raw.send(0, commands.Connection.UpdateSecret(new_secret="not-the-password", reason="token refresh"))
        raw.expect(commands.Connection.UpdateSecretOk, 0)
        raw.send(1, commands.Queue.Declare(queue="", exclusive=True))
        assert raw.expect(commands.Queue.DeclareOk, 1).queue.startswith("amq.gen-")


def test_pika_update_secret(broker):
    """pika's BlockingConnection.update_secret returns and the connection still publishes."""
    conn = pika.BlockingConnection(pika.URLParameters(broker.url))
    try:
        conn.update_secret("guest", "refresh")
        ch = conn.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.basic_publish("", q, b"after refresh")
        assert ch.basic_get(q, auto_ack=True)[2] == b"after refresh"
    finally:
        conn.close()
