"""The stream log (broker/stream/log.py) and offset specs, sans-IO: files in tmp_path, no server."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest

from amqpd.broker.stream.log import HEADER, Retention, StreamLog
from amqpd.broker.stream.offsets import Anchor, Since, interval_seconds, offset_spec
from amqpd.protocol import errors
from amqpd.protocol.tables import Timestamp


def batch(log: StreamLog, bodies: list[bytes], timestamp: int = 1000) -> None:
    """One store batch: append, seal, write on 'the thread', then written on 'the loop'."""
    for body in bodies:
        log.append("ex", "rk", b"\x00\x00", body)
    sealed = log.seal(timestamp)
    sealed.write()
    log.written(sealed, True, timestamp)


def read_all(log: StreamLog) -> list[tuple[int, bytes]]:
    out, offset = [], log.first
    while offset < log.next:
        records = log.read_chunk(offset)
        out += [(r[0], r[4]) for r in records if r[0] >= offset]
        offset = records[-1][0] + 1
    return out


def test_offsets_grow_across_batches_and_restart(tmp_path: Path) -> None:
    log = StreamLog(tmp_path)
    batch(log, [b"a", b"b"])
    batch(log, [b"c"])
    assert (log.first, log.next, log.last_chunk_offset()) == (0, 3, 2)
    again = StreamLog(tmp_path)
    assert read_all(again) == [(0, b"a"), (1, b"b"), (2, b"c")]
    batch(again, [b"d"])
    assert read_all(StreamLog(tmp_path)) == [(0, b"a"), (1, b"b"), (2, b"c"), (3, b"d")]


def test_unwritten_chunks_are_not_readable(tmp_path: Path) -> None:
    log = StreamLog(tmp_path)
    log.append("", "q", b"\x00\x00", b"x")
    sealed = log.seal(1)
    assert log.next == 0
    sealed.write()
    assert log.next == 0
    log.written(sealed, True, 1)
    assert log.next == 1


def test_failed_write_rewinds_offsets(tmp_path: Path) -> None:
    log = StreamLog(tmp_path)
    batch(log, [b"a"])
    log.append("", "q", b"\x00\x00", b"lost")
    log.written(log.seal(2), False, 2)
    batch(log, [b"b"])
    assert read_all(log) == [(0, b"a"), (1, b"b")]


@pytest.mark.parametrize("cut", [1, HEADER.size - 1, HEADER.size + 3])
def test_torn_last_chunk_is_cut_off(tmp_path: Path, cut: int) -> None:
    """A kill during the last write leaves part of a chunk: recovery keeps every whole chunk
    before it, cuts the file back and the next batch continues at the torn chunk's offset."""
    log = StreamLog(tmp_path)
    batch(log, [b"one", b"two"])
    segment = log.segments[0]
    intact = segment.size
    batch(log, [b"three"])
    os.truncate(segment.path, intact + cut)
    recovered = StreamLog(tmp_path)
    assert read_all(recovered) == [(0, b"one"), (1, b"two")]
    assert segment.path.stat().st_size == intact
    batch(recovered, [b"again"])
    assert read_all(StreamLog(tmp_path)) == [(0, b"one"), (1, b"two"), (2, b"again")]


def test_corrupt_last_chunk_is_cut_off(tmp_path: Path) -> None:
    """A chunk whose bytes do not match its checksum (a torn page) goes as a torn one does."""
    log = StreamLog(tmp_path)
    batch(log, [b"keep"])
    batch(log, [b"garbled"])
    path = log.segments[0].path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_all(StreamLog(tmp_path)) == [(0, b"keep")]


def test_segments_roll_and_retention_drops_whole_segments(tmp_path: Path) -> None:
    log = StreamLog(tmp_path, Retention(segment_bytes=100))
    for i in range(10):
        batch(log, [b"x" * 80], timestamp=1000 + i)
    assert len(log.segments) == 10
    log.retention = Retention(max_bytes=3 * log.segments[0].size, segment_bytes=100)
    assert log.apply_retention(2000) == 7
    assert (log.first, log.next) == (7, 10)
    assert read_all(log) == [(7, b"x" * 80), (8, b"x" * 80), (9, b"x" * 80)]
    assert len(list(tmp_path.glob("*.segment"))) == 3
    log.retention = Retention(max_age_ms=1000, segment_bytes=100)
    log.apply_retention(1000 + 8 + 1000 + 1)  # segments last written before 1008 are too old
    assert log.first == 9  # the segment being written always stays
    assert StreamLog(tmp_path).first == 9


def test_chunk_is_found_by_index_not_by_scanning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """1000 chunks in one segment: reading the one at an offset reads log2 index entries and one chunk."""
    log = StreamLog(tmp_path)
    for i in range(1000):
        batch(log, [b"m%d" % i], timestamp=i)
    reads: list[int] = []
    real = os.pread

    def counting(fd: int, n: int, pos: int) -> bytes:
        reads.append(n)
        return real(fd, n, pos)

    monkeypatch.setattr(os, "pread", counting)
    assert log.read_chunk(777)[0][4] == b"m777"
    assert log.offset_at(500) == 500
    assert len(reads) <= 2 * 12 + 4  # two binary searches of 1000 entries (10 reads each) and the chunk


def test_offset_at_timestamp(tmp_path: Path) -> None:
    log = StreamLog(tmp_path)
    batch(log, [b"a", b"b"], timestamp=100)
    batch(log, [b"c"], timestamp=200)
    assert (log.offset_at(50), log.offset_at(150), log.offset_at(200), log.offset_at(300)) == (0, 2, 2, 3)


@pytest.mark.parametrize("text, seconds", [("7D", 7 * 86400), ("12h", 43200), ("30m", 1800), ("10s", 10),
                                           ("1Y", 365 * 86400), ("1M", 30 * 86400), ("0s", None),
                                           ("10X", None), ("h", None), ("-1s", None), ("1.5h", None)])
def test_interval_grammar(text: str, seconds: int | None) -> None:
    assert interval_seconds(text) == seconds


def test_offset_specs() -> None:
    assert offset_spec(None) is Anchor.NEXT
    assert offset_spec({"x-stream-offset": "first"}) is Anchor.FIRST
    assert offset_spec({"x-stream-offset": "last"}) is Anchor.LAST
    assert offset_spec({"x-stream-offset": 5}) == 5
    assert offset_spec({"x-stream-offset": -3}) == 0
    assert offset_spec({"x-stream-offset": Timestamp(100)}) == Since(100_000)
    when = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
    assert offset_spec({"x-stream-offset": when}) == Since(int(when.timestamp()) * 1000)
    assert offset_spec({"x-stream-offset": "1h"}, now=7200.0) == Since(3600_000)
    with pytest.raises(errors.InternalError):
        offset_spec({"x-stream-offset": "foo"})
