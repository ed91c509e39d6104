"""The management API's error replies, in RabbitMQ 3.10.8's shapes (checked against the real broker).

A handler raises ApiError; the app turns it into the JSON body RabbitMQ sends for that case.
RabbitMQ never answers 403 from this API: refusals are 401 with a reason.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

CHALLENGE = {"www-authenticate": 'Basic realm="RabbitMQ Management"'}


class ApiError(Exception):
    """An error reply: status, RabbitMQ's `error` and `reason`, and extra headers; with error None
    the body is empty (RabbitMQ's missing credentials and malformed request cases)."""

    def __init__(self, status: int, error: str | None, reason: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, error, reason)
        self.status = status
        self.error = error
        self.reason = reason
        self.headers = headers or {}

    def response(self) -> Response:
        if self.error is None:
            return Response(b"", self.status, headers=self.headers)
        body = json.dumps({"error": self.error, "reason": self.reason}, separators=(",", ":"), default=str)
        return Response(body, self.status, headers=self.headers, media_type="application/json")


def not_found() -> ApiError:
    return ApiError(404, "Object Not Found", "Not Found")


def bad_request(reason: Any) -> ApiError:
    return ApiError(400, "bad_request", reason)


def not_authorised(reason: str) -> ApiError:
    """Valid credentials without the right (British spelling, as RabbitMQ has it)."""
    return ApiError(401, "not_authorised", reason)


def login_failed() -> ApiError:
    return ApiError(401, "not_authorized", "Login failed", CHALLENGE)


def no_credentials() -> ApiError:
    return ApiError(401, None, headers=CHALLENGE)


def malformed() -> ApiError:
    """A request RabbitMQ's HTTP layer refuses before any handler (bad Authorization or path escapes)."""
    return ApiError(400, None)


def key_missing(*keys: str) -> ApiError:
    return bad_request("[" + ",".join(f"{{key_missing,{key}}}" for key in keys) + "]")
