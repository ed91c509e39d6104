"""rabbitmqctl's exit codes (its core/exit_codes.ex, the BSD sysexits), and the error that carries one.

Scripts branch on these: CI setup scripts continue past `add_user` of an existing user (70),
health checks read 69 as "not running".
"""

from __future__ import annotations

from enum import IntEnum


class Exit(IntEnum):
    OK = 0
    USAGE = 64  # wrong arguments, unknown verb or option
    DATA_ERROR = 65  # a bad argument value, an object that does not exist
    NO_USER = 67  # no such user
    UNAVAILABLE = 69  # the broker cannot be reached, or refused the operation
    SOFTWARE = 70  # the operation failed on the broker (e.g. the user already exists)
    TIMEOUT = 75  # no answer within --timeout
    CONFIG = 78  # amqpctl's own settings (config file, environment) are unusable


class CtlError(Exception):
    """Ends the command: `message` goes to stderr, `code` is the exit status."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
