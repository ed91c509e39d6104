"""random_name: the one maker of server-chosen names (amq.gen- queues, amq.ctag- tags, reply-to queues)."""

from __future__ import annotations

import re

from amqpd.broker.names import random_name


def test_default_length_is_rabbitmqs_22_url_safe_characters():
    names = {random_name("amq.gen-") for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"amq\.gen-[A-Za-z0-9_-]{22}", name) for name in names)


def test_more_random_bytes_make_a_longer_unpadded_name():
    name = random_name("amq.rabbitmq.reply-to.", 18)
    assert re.fullmatch(r"amq\.rabbitmq\.reply-to\.[A-Za-z0-9_-]{24}", name)
