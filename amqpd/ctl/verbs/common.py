"""What several verb modules share: JSON arguments parsed as rabbitmqctl parses them, and its
errors for a vhost or user that does not exist."""

from __future__ import annotations

import argparse
import json
from typing import Any

from amqpd.ctl.exits import CtlError, Exit
from amqpd.ctl.transport import Broker, segment


def json_argument(text: str) -> Any:
    """A JSON command-line argument; bad JSON is rabbitmqctl's `JSON decoding error` (69)."""
    try:
        return json.loads(text)
    except ValueError:
        raise CtlError(Exit.UNAVAILABLE, "Error:\nJSON decoding error. Reason: badarg") from None


def no_vhost(vhost: str) -> CtlError:
    """A list verb's missing vhost (rabbitmqctl prints no "Error:" line here)."""
    return CtlError(Exit.DATA_ERROR, f"Virtual host '{vhost}' does not exist")


def no_parameter() -> CtlError:
    """rabbitmqctl's words for clearing a policy, parameter or limit that is not set (69)."""
    return CtlError(Exit.UNAVAILABLE, "Error:\nParameter does not exist")


def vhost_exists(broker: Broker, vhost: str) -> bool:
    return broker.exists(f"/api/vhosts/{segment(vhost)}")


def user_exists(broker: Broker, user: str) -> bool:
    return broker.exists(f"/api/users/{segment(user)}")


def put_limits(broker: Broker, route: str, scope: str, limits: dict[str, Any]) -> None:
    """Each limit of a set_vhost_limits / set_user_limits JSON argument, PUT one by one."""
    for name, value in limits.items():
        broker.put(f"/api/{route}/{segment(scope)}/{segment(name)}", {"value": value})


def no_such_user(user: str) -> CtlError:
    """rabbitmqctl's words when a verb that changes a user's rights finds no such user (67)."""
    return CtlError(Exit.NO_USER, f"Error:\nUser {user} does not exist")


def no_such_user_term(user: str) -> CtlError:
    """rabbitmqctl's raw `{:no_such_user, "u"}` of the verbs that do not map it (69)."""
    return CtlError(Exit.UNAVAILABLE, f'Error:\n{{:no_such_user, "{user}"}}')


def user_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("user")
