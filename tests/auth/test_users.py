"""auth/users.py: RabbitMQ's password hash format, the user table, and the loopback rule for guest."""

from __future__ import annotations

import base64
import hashlib

import pytest

from amqpd.auth.users import HASHING_ALGORITHM, UserTable, check_password, hash_password, is_loopback

# `rabbitmqctl export_definitions -` on the RabbitMQ 3.10.8 of this machine: guest's stored hash.
RABBITMQ_GUEST_HASH = "tw7+bRUIurXsRamEvQSTEZ0voxCFHdMBKcSq1v+4Io0O4EvJ"


def test_password_hash_format_matches_rabbitmq():
    """hash_password is rabbit_password_hashing_sha256: base64(salt4 + sha256(salt4 + utf8 password))."""
    assert HASHING_ALGORITHM == "rabbit_password_hashing_sha256"
    raw = base64.b64decode(RABBITMQ_GUEST_HASH)
    salt = raw[:4]
    assert hash_password("guest", salt) == RABBITMQ_GUEST_HASH
    assert raw[4:] == hashlib.sha256(salt + b"guest").digest()
    assert check_password("guest", RABBITMQ_GUEST_HASH) is True
    assert check_password("Guest", RABBITMQ_GUEST_HASH) is False


def test_hashes_are_salted_and_round_trip():
    """Each hash gets a fresh 4-byte salt (36 bytes decoded); non-ASCII passwords and junk hashes are handled."""
    first, second = hash_password("pässwörd"), hash_password("pässwörd")
    assert first != second
    assert len(base64.b64decode(first)) == 36
    assert check_password("pässwörd", first) and check_password("pässwörd", second)
    assert check_password("passwort", first) is False
    assert check_password("x", "not base64!") is False
    assert check_password("x", base64.b64encode(b"short").decode()) is False


def test_user_table_add_replaces_and_keeps_tags():
    """Adding a user again replaces its password; tags are kept as given."""
    table = UserTable()
    table.add("ops", "one", ["monitoring"])
    table.add("ops", "two", ["management"])
    assert table.authenticate("ops", "one", from_loopback=True) is None
    assert table.authenticate("ops", "two", from_loopback=True).tags == ["management"]


@pytest.mark.parametrize("address, loopback", [
    ("127.0.0.1", True), ("127.10.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("10.1.2.3", False), ("::ffff:10.1.2.3", False), ("2001:db8::1", False), ("not an address", False),
])
def test_loopback_addresses(address, loopback):
    """guest's loopback rule knows IPv4-mapped IPv6 addresses, as a dual-stack listener reports IPv4 peers."""
    assert is_loopback(address) is loopback


def test_admit_checks_existence_and_address_but_no_password():
    """EXTERNAL logins: the certificate vouched for the name, so only the user's existence and
    the loopback rule decide."""
    table = UserTable()
    table.add("guest", "guest", loopback_only=True)
    table.add("app", "secret")
    assert table.admit("app", from_loopback=False).name == "app"
    assert table.admit("guest", from_loopback=True).name == "guest"
    assert table.admit("guest", from_loopback=False) is None
    assert table.admit("nobody", from_loopback=True) is None
