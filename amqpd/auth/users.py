"""Users and their password hashes, in RabbitMQ's format so definitions files carry over.

RabbitMQ's default scheme (rabbit_password_hashing_sha256) stores
base64(salt + sha256(salt + password)) with a 4-byte random salt; its sha512 and md5 schemes
differ only in the digest, and hashes made by any of them (imported over the management API)
are checked as they are. An empty hash is a user who cannot log in with a password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
from dataclasses import dataclass, field

HASHING_ALGORITHM = "rabbit_password_hashing_sha256"
HASHING_ALGORITHMS = {  # RabbitMQ's name of each scheme -> its digest
    "rabbit_password_hashing_sha256": hashlib.sha256,
    "rabbit_password_hashing_sha512": hashlib.sha512,
    "rabbit_password_hashing_md5": hashlib.md5,
}
MANAGEMENT_TAGS = ("administrator", "monitoring", "policymaker", "management")  # tags the HTTP API knows


def hash_password(password: str, salt: bytes | None = None, algorithm: str = HASHING_ALGORITHM) -> str:
    salt = os.urandom(4) if salt is None else salt
    digest = HASHING_ALGORITHMS[algorithm](salt + password.encode("utf-8")).digest()
    return base64.b64encode(salt + digest).decode("ascii")


def check_password(password: str, password_hash: str, algorithm: str = HASHING_ALGORITHM) -> bool:
    """Whether the password matches the hash, compared in constant time."""
    try:
        raw = base64.b64decode(password_hash, validate=True)
    except ValueError:
        return False
    digest = HASHING_ALGORITHMS.get(algorithm)
    if digest is None or len(raw) != 4 + digest().digest_size:
        return False
    return hmac.compare_digest(hash_password(password, raw[:4], algorithm), password_hash)


@dataclass
class User:
    name: str
    password_hash: str
    tags: list[str] = field(default_factory=list)
    loopback_only: bool = False  # RabbitMQ's loopback_users: guest by default
    hashing_algorithm: str = HASHING_ALGORITHM


def is_loopback(address: str) -> bool:
    """Whether a peer address is a loopback one, an IPv4 one mapped into IPv6 included (a
    dual-stack listener sees 127.0.0.1 as ::ffff:127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


class UserTable:
    """Who may log in (which vhosts each may use is auth/permissions.py's)."""

    def __init__(self) -> None:
        self.users: dict[str, User] = {}

    def add(self, name: str, password: str, tags: list[str] | None = None, loopback_only: bool = False) -> User:
        user = User(name, hash_password(password), tags or [], loopback_only)
        self.users[name] = user
        return user

    def put(self, user: User) -> None:
        """Add or replace a user as given (its hash already made)."""
        self.users[user.name] = user

    def remove(self, name: str) -> User | None:
        return self.users.pop(name, None)

    def authenticate(self, name: str, password: str, from_loopback: bool) -> User | None:
        """The user when the password matches and the address is allowed, else None."""
        user = self.admit(name, from_loopback)
        if user is None or not check_password(password, user.password_hash, user.hashing_algorithm):
            return None
        return user

    def admit(self, name: str, from_loopback: bool) -> User | None:
        """The user when it exists and may connect from this address, else None; no password is
        checked (EXTERNAL: the client certificate vouched for the name)."""
        user = self.users.get(name)
        if user is None or (user.loopback_only and not from_loopback):
            return None
        return user
