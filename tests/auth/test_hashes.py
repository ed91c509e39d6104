"""RabbitMQ's three password hashing schemes, and the hashes the management API imports as they are.

The sha256 vector is RabbitMQ's own (its docs' example: salt 908D C60A, password "test12");
the others are the same construction with sha512 and md5, as rabbit_password does it."""

from __future__ import annotations

import base64
import hashlib

import pytest

from amqpd.auth.users import HASHING_ALGORITHMS, User, UserTable, check_password, hash_password


def test_rabbitmqs_sha256_example():
    assert hash_password("test12", bytes.fromhex("908dc60a")) == "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
    assert check_password("test12", "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR")


@pytest.mark.parametrize("algorithm", sorted(HASHING_ALGORITHMS))
def test_each_scheme_round_trips_and_checks_the_digest_length(algorithm):
    made = hash_password("pw", algorithm=algorithm)
    assert check_password("pw", made, algorithm)
    assert not check_password("other", made, algorithm)
    assert not check_password("pw", made, "rabbit_password_hashing_unknown")
    other = next(a for a in HASHING_ALGORITHMS if a != algorithm)
    assert not check_password("pw", made, other)  # a digest of the wrong length never matches


def test_an_imported_md5_hash_and_an_empty_one():
    salt = b"abcd"
    table = UserTable()
    table.put(User("old", base64.b64encode(salt + hashlib.md5(salt + b"pw").digest()).decode(), [], False,
                   "rabbit_password_hashing_md5"))
    table.put(User("nopw", "", ["management"]))
    assert table.authenticate("old", "pw", from_loopback=True) is not None
    assert table.authenticate("nopw", "", from_loopback=True) is None  # an empty hash never logs in
    assert table.remove("old") is not None and table.authenticate("old", "pw", from_loopback=True) is None
