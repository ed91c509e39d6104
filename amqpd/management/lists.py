"""RabbitMQ's list parameters: page/page_size with name filtering, sort, and columns.

Checked against RabbitMQ 3.10.8: the error bodies and the paginated reply's keys are its own.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from amqpd.patterns import Pattern

from amqpd.management.errors import ApiError, bad_request

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
MAX_REGEX = 1024

Item = dict[str, Any]


def _flag(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() == "true"


def _field(item: Any, path: str) -> Any:
    for part in path.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


def _sort_key(value: Any) -> tuple[int, Any]:
    """Numbers before strings before anything else, so mixed or missing values never fail to compare."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, value)
    if isinstance(value, str):
        return (1, value)
    return (2, str(value))


def sort(items: list[Item], query: Mapping[str, str], default: tuple[str, ...] = ("name",)) -> list[Item]:
    fields = [query["sort"]] if query.get("sort") else list(default)
    ordered = sorted(items, key=lambda item: [_sort_key(_field(item, f)) for f in fields])
    return ordered[::-1] if _flag(query, "sort_reverse") else ordered


def columns(value: Any, query: Mapping[str, str]) -> Any:
    """Keep only the dotted fields `columns` names, in a list's items or in one object."""
    wanted = [c for c in query.get("columns", "").split(",") if c]
    if not wanted:
        return value
    if isinstance(value, list):
        return [_pick(item, wanted) for item in value]
    if isinstance(value, dict) and isinstance(value.get("items"), list) and "page" in value:
        return {**value, "items": [_pick(item, wanted) for item in value["items"]]}
    return _pick(value, wanted)


def _pick(item: Any, wanted: list[str]) -> Any:
    if not isinstance(item, dict):
        return item
    result: Item = {}
    for path in wanted:
        source, target = item, result
        parts = path.split(".")
        for part in parts[:-1]:
            source = source.get(part) if isinstance(source, dict) else None
            target = target.setdefault(part, {})
        if isinstance(source, dict) and parts[-1] in source and isinstance(target, dict):
            target[parts[-1]] = source[parts[-1]]
    return result


def _int(text: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", text):
        raise bad_request("Pagination parameters are invalid")
    return int(text)


def page(items: list[Item], query: Mapping[str, str], default_sort: tuple[str, ...] = ("name",)) -> Any:
    """The list as RabbitMQ answers it: sorted; paginated (and filtered by name) when `page` is given."""
    items = sort(items, query, default_sort)
    if "page" not in query:
        return items
    number = _int(query["page"])
    size = _int(query["page_size"]) if "page_size" in query else None
    if number < 1 or (size is not None and not 1 <= size <= MAX_PAGE_SIZE):
        raise ApiError(400, "invalid_pagination_parameters",
                       f"Invalid pagination parameters: page number {number}, page size "
                       f"{'undefined' if size is None else size}")
    size = DEFAULT_PAGE_SIZE if size is None else size
    filtered = _filter(items, query)
    count = len(filtered)
    page_count = (count + size - 1) // size
    if count and number > page_count:
        raise ApiError(400, "page_out_of_range", f"Page out of range, page: {number} page size: {size}, len: {count}")
    shown = filtered[(number - 1) * size:number * size]
    return {"filtered_count": count, "item_count": len(shown), "items": shown, "page": number,
            "page_count": page_count, "page_size": size, "total_count": len(items)}


def _filter(items: list[Item], query: Mapping[str, str]) -> list[Item]:
    name = query.get("name", "")
    if not name:
        return items
    if _flag(query, "use_regex"):
        if len(name) > MAX_REGEX:
            raise bad_request("Regular expression is too long")
        try:
            pattern = Pattern(name, ignore_case=True)
        except re.error:
            raise bad_request(f"Invalid regular expression: {name}") from None
        return [item for item in items if pattern.search(str(item.get("name", "")))]
    lowered = name.lower()
    return [item for item in items if lowered in str(item.get("name", "")).lower()]
