"""What several verb modules share: JSON arguments, parsed as rabbitmqctl parses them."""

from __future__ import annotations

import json
from typing import Any

from amqpd.ctl.exits import CtlError, Exit


def json_argument(text: str) -> Any:
    """A JSON command-line argument; bad JSON is rabbitmqctl's `JSON decoding error` (69)."""
    try:
        return json.loads(text)
    except ValueError:
        raise CtlError(Exit.UNAVAILABLE, "Error:\nJSON decoding error. Reason: badarg") from None
