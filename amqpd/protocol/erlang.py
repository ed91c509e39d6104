"""Erlang's ``io_lib:format`` ``~p`` for the few terms RabbitMQ puts in frame-error reply texts.

RabbitMQ builds texts such as ``FRAME_ERROR - type 1, all octets = <<0,20,0,10,0>>:
{invalid_frame_end_marker,0}`` by pretty-printing Erlang terms, so a payload snippet is shown
as a string when it is printable latin-1 and as decimal octets otherwise, and a term that
would run past column 80 is broken over lines exactly as ``io_lib_pretty`` breaks it. This
module ports that for binaries, atoms, integers and tuples of those (all the reasons use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

LINE_LENGTH = 80


@dataclass(frozen=True)
class Atom:
    """An Erlang atom: printed bare."""

    name: str


Term = Union[Atom, int, bytes, tuple]

_ESCAPES = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v", 0x08: "\\b", 0x0C: "\\f", 0x1B: "\\e",
            0x22: '\\"', 0x5C: "\\\\"}


def _printable(data: bytes) -> bool:
    """io_lib's latin-1 printable test (the default printable range of ~p)."""
    return all(32 <= b <= 126 or 160 <= b <= 255 or b in (8, 9, 10, 11, 12, 13, 27) for b in data)


def write(term: Term) -> str:
    """The term on one line, like ``~w`` (binaries as decimal octets)."""
    if isinstance(term, Atom):
        return term.name
    if isinstance(term, bytes):
        return "<<" + ",".join(str(b) for b in term) + ">>"
    if isinstance(term, tuple):
        return "{" + ",".join(write(e) for e in term) + "}"
    return str(term)


def _write_p(term: Term) -> str:
    """The term on one line, like ``~p`` (printable binaries as strings)."""
    if isinstance(term, bytes) and term and _printable(term):
        return '<<"' + "".join(_ESCAPES.get(b, chr(b)) for b in term) + '">>'
    if isinstance(term, tuple):
        return "{" + ",".join(_write_p(e) for e in term) + "}"
    return write(term)


def pretty(term: Term, col: int) -> str:
    """``~p`` of term starting at 1-based column col (io_lib_pretty:print with line length 80)."""
    text = _write_p(term)
    length = len(text)
    if not isinstance(term, (bytes, tuple)) or not term or length < LINE_LENGTH - col:
        return text
    if isinstance(term, bytes):
        if text.startswith('<<"'):
            return text  # strings are never broken
        return _pp_binary(term, col, length)
    return _pp_tag_tuple(term, col, length) if term and isinstance(term[0], Atom) and len(term) > 1 else text


def _pp_binary(data: bytes, col: int, length: int) -> str:
    """Fill the octets line by line, continuing under the first octet."""
    indent = " " * (col + 1)
    room = max(8, min(LINE_LENGTH - (col + 2), length - 4))
    out = ["<<"]
    left = room
    octets = [str(b) for b in data]
    for octet in octets[:-1]:
        size = len(octet) + 1
        if left - size < 0:
            out.append("\n" + indent)
            left = room - size
        else:
            left -= size
        out.append(octet + ",")
    last = octets[-1]
    out.append(("\n" + indent + last) if len(last) > left else last)
    out.append(">>")
    return "".join(out)


def _pp_tag_tuple(term: tuple, col: int, length: int) -> str:
    """A tagged tuple of atomic elements, broken after commas where it would pass column 80.

    Names follow io_lib_pretty (cind_tag_tuple, pp_tag_tuple, pp_list, pp_tail).
    """
    tag, *elements = [write(e) for e in term]
    tag_ind = len(tag) + 2  # "{tag,"
    tcol = col + tag_ind
    t_ind = 1  # while_fail's default when both candidates are no good
    for candidate in (-1, 4):
        if candidate > 0 and tag_ind > candidate:
            good = length + col + candidate <= LINE_LENGTH or col + candidate <= LINE_LENGTH // 2
        else:
            good = length + tcol < LINE_LENGTH or tcol < LINE_LENGTH // 2
        if good:
            t_ind = candidate
            break
    indent = " " * (col - 1)
    if t_ind > 0 and tag_ind > t_ind:
        out, col0, cur, width = "{" + tag, col + t_ind, tcol, 1 + len(tag)
        indent += " " * t_ind
    else:
        first, *elements = elements
        depth = 0 if elements else 1
        fits = len(first) < LINE_LENGTH - tcol - depth and len(first) + len(tag) + 2 + depth <= length
        out, col0 = "{" + tag + "," + first, tcol
        cur, width = tcol + (len(first) if fits else LINE_LENGTH), len(tag) + 2 + len(first)
        indent += " " * tag_ind
    for i, element in enumerate(elements):
        depth = 1 if i == len(elements) - 1 else 0
        e_len = 1 + len(element)
        if depth == 0:
            fits = e_len + 1 < LINE_LENGTH - cur and width + e_len + 1 <= length
        else:
            fits = e_len < LINE_LENGTH - cur - depth and width + e_len + depth <= length
        if fits:
            out += "," + element
            cur, width = cur + e_len, width + e_len
        else:
            out += ",\n" + indent + element
            cur, width = col0 + len(element), len(element)
    return out + "}"


def format(*parts: str | Term) -> str:  # noqa: A001 - mirrors io_lib:format
    """Literal text (str) and ``~p`` terms in order, each term placed at its running column."""
    out = ""
    for part in parts:
        if isinstance(part, str):
            out += part
        else:
            col = len(out) - (out.rfind("\n") + 1) + 1
            out += pretty(part, col)
    return out
