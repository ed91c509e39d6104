"""A stream's log on disk: append-only segment files of chunks, an index per segment, retention.

A chunk holds the messages of one publish batch (at most CHUNK_BYTES of records) behind a
header: magic, first offset, message count, timestamp (epoch ms), data length and the data's
CRC-32. Each segment ``<first offset>.segment`` has an index ``<first offset>.index`` of one
fixed entry per chunk (first offset, timestamp, position), so a reader finds an offset or a
moment by binary search in one index file, then reads one chunk.

The log is split between the event loop and the store's writer thread: ``append`` and ``seal``
(loop) turn pending messages into chunk bytes and decide where they go; ``Sealed.write``
(thread) puts them in the files and fsyncs once; ``written`` (loop) makes them readable, or on
failure cuts the files back. Reads are ``os.pread`` of one index entry or one chunk at a time.
Recovery keeps every intact chunk and cuts a torn last chunk off.
"""

from __future__ import annotations

import bisect
import os
import shutil
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

HEADER = struct.Struct(">4sQIqII")  # magic, first offset, count, timestamp ms, data length, crc32
MAGIC = b"AMQS"
RECORD = struct.Struct(">BBII")  # exchange length, routing key length, properties length, body length
INDEX = struct.Struct(">QqQ")  # first offset, timestamp ms, position in the segment
CHUNK_BYTES = 1 << 20  # records per chunk at most (a batch bigger than this makes several chunks)
DEFAULT_SEGMENT_BYTES = 500_000_000  # RabbitMQ's x-stream-max-segment-size-bytes default

StreamRecord = tuple[int, str, str, bytes, bytes]  # offset, exchange, routing key, properties, body
IndexEntry = tuple[int, int, int]  # first offset, timestamp ms, position


@dataclass(frozen=True)
class Retention:
    """What a stream keeps: whole segments are dropped over max_bytes or older than max_age_ms."""

    max_bytes: int | None = None
    max_age_ms: int | None = None
    segment_bytes: int = DEFAULT_SEGMENT_BYTES


@dataclass
class Segment:
    """One segment file as far as it is on disk and readable (``size``, ``next``)."""

    directory: Path
    first: int  # offset of its first message
    next: int  # offset after its last chunk
    size: int = 0
    chunks: int = 0
    last_timestamp: int = 0

    @property
    def path(self) -> Path:
        return self.directory / f"{self.first:020d}.segment"

    @property
    def index_path(self) -> Path:
        return self.directory / f"{self.first:020d}.index"


@dataclass
class _Write:
    segment: Segment
    position: int
    data: bytes
    index_position: int
    index: bytes
    first: int
    count: int
    timestamp: int


@dataclass
class Sealed:
    """The chunks of one batch: written on the writer thread, then ``written`` on the loop."""

    log: "StreamLog"
    writes: list[_Write] = field(default_factory=list)

    def write(self) -> None:
        """Write the chunks and fsync them (the writer thread). A log deleted meanwhile is skipped."""
        try:
            for segment, group in _by_segment(self.writes):
                new = group[0].position == 0
                fd = os.open(segment.path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    for w in group:
                        os.pwrite(fd, w.data, w.position)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                fd = os.open(segment.index_path, os.O_WRONLY | os.O_CREAT, 0o600)
                try:
                    for w in group:
                        os.pwrite(fd, w.index, w.index_position)
                    if new:
                        os.fsync(fd)
                finally:
                    os.close(fd)
                if new:
                    _fsync_dir(segment.directory)
        except FileNotFoundError:
            if not self.log.destroyed:
                raise


def _by_segment(writes: list[_Write]) -> list[tuple[Segment, list[_Write]]]:
    groups: list[tuple[Segment, list[_Write]]] = []
    for w in writes:
        if groups and groups[-1][0] is w.segment:
            groups[-1][1].append(w)
        else:
            groups.append((w.segment, [w]))
    return groups


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def encode_record(exchange: str, routing_key: str, raw_properties: bytes, body: bytes) -> bytes:
    ex, rk = exchange.encode(), routing_key.encode()
    return b"".join((RECORD.pack(len(ex), len(rk), len(raw_properties), len(body)), ex, rk, raw_properties, body))


def decode_records(first: int, data: bytes) -> list[StreamRecord]:
    records, pos, offset = [], 0, first
    while pos < len(data):
        ex_len, rk_len, props_len, body_len = RECORD.unpack_from(data, pos)
        pos += RECORD.size
        exchange = data[pos:pos + ex_len].decode()
        pos += ex_len
        routing_key = data[pos:pos + rk_len].decode()
        pos += rk_len
        props = data[pos:pos + props_len]
        pos += props_len
        records.append((offset, exchange, routing_key, props, data[pos:pos + body_len]))
        pos += body_len
        offset += 1
    return records


class StreamLog:
    """The segments of one stream in ``directory``; offsets count messages from 0 for ever."""

    def __init__(self, directory: Path, retention: Retention | None = None) -> None:
        self.directory = directory
        self.retention = retention or Retention()
        self.destroyed = False
        self.segments: list[Segment] = []
        self._pending: list[bytes] = []
        self._sealed_size = 0  # where the next chunk goes in the last segment (sealed, maybe unwritten)
        self._sealed_chunks = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._recover()
        last = self.segments[-1] if self.segments else None
        self._sealed_next = last.next if last else 0  # the offset the next appended message gets
        if last is not None:
            self._sealed_size, self._sealed_chunks = last.size, last.chunks

    # -- the loop's side of writing ---------------------------------------------------------------

    @property
    def first(self) -> int:
        """The oldest offset retention kept (the next one when the log is empty)."""
        return self.segments[0].first if self.segments else self._sealed_next

    @property
    def next(self) -> int:
        """The offset after the last message on disk: readers stop here."""
        return self.segments[-1].next if self.segments else self.first

    @property
    def size(self) -> int:
        return sum(segment.size for segment in self.segments)

    def append(self, exchange: str, routing_key: str, raw_properties: bytes, body: bytes) -> None:
        """A message for the next batch (readable once that batch is written)."""
        self._pending.append(encode_record(exchange, routing_key, raw_properties, body))

    def seal(self, timestamp: int) -> Sealed:
        """The pending messages as chunks placed in segments (a full segment rolls to a new one)."""
        sealed = Sealed(self)
        pending, self._pending = self._pending, []
        start = 0
        while start < len(pending):
            end, size = start, 0
            while end < len(pending) and (end == start or size + len(pending[end]) <= CHUNK_BYTES):
                size += len(pending[end])
                end += 1
            sealed.writes.append(self._place(pending[start:end], timestamp))
            start = end
        return sealed

    def _place(self, records: list[bytes], timestamp: int) -> _Write:
        data = b"".join(records)
        first = self._sealed_next
        last = self.segments[-1] if self.segments else None
        if last is None or self._sealed_size >= self.retention.segment_bytes:
            last = Segment(self.directory, first, first)
            self.segments.append(last)
            self._sealed_size = self._sealed_chunks = 0
        header = HEADER.pack(MAGIC, first, len(records), timestamp, len(data), zlib.crc32(data))
        write = _Write(last, self._sealed_size, header + data, self._sealed_chunks * INDEX.size,
                       INDEX.pack(first, timestamp, self._sealed_size), first, len(records), timestamp)
        self._sealed_size += len(header) + len(data)
        self._sealed_chunks += 1
        self._sealed_next += len(records)
        return write

    def written(self, sealed: Sealed, ok: bool, now_ms: int) -> None:
        """A batch ended: its chunks become readable, or (failed) the log forgets them, then
        retention drops what it no longer keeps."""
        if self.destroyed or not sealed.writes:
            return
        if not ok:
            self._rewind(sealed)
            return
        for w in sealed.writes:
            segment = w.segment
            segment.size = w.position + len(w.data)
            segment.chunks += 1
            segment.next = w.first + w.count
            segment.last_timestamp = w.timestamp
        self.apply_retention(now_ms)

    def _rewind(self, sealed: Sealed) -> None:
        """After a failed write: back to what is on disk. Only one batch is ever being written,
        so its first offset is where the messages still pending continue."""
        while self.segments and self.segments[-1].chunks == 0:
            self.segments.pop()
        last = self.segments[-1] if self.segments else None
        self._sealed_next = sealed.writes[0].first
        self._sealed_size, self._sealed_chunks = (last.size, last.chunks) if last else (0, 0)

    # -- retention ---------------------------------------------------------------------------------

    def apply_retention(self, now_ms: int) -> int:
        """Drop whole segments (never the one being written) over the byte limit or past the age
        limit; returns how many messages went."""
        retention, dropped = self.retention, 0
        while len(self.segments) > 1:
            head = self.segments[0]
            too_big = retention.max_bytes is not None and self.size > retention.max_bytes
            too_old = retention.max_age_ms is not None and head.last_timestamp < now_ms - retention.max_age_ms
            if not (too_big or too_old):
                break
            self.segments.pop(0)
            dropped += head.next - head.first
            head.path.unlink(missing_ok=True)
            head.index_path.unlink(missing_ok=True)
        return dropped

    # -- reading -----------------------------------------------------------------------------------

    def _segment_of(self, offset: int) -> Segment | None:
        index = bisect.bisect_right([s.first for s in self.segments], offset) - 1
        return self.segments[index] if index >= 0 else None

    @staticmethod
    def _entry(segment: Segment, find: Callable[[Callable[[int], IndexEntry]], int]) -> IndexEntry:
        """The index entry that ``find`` picks, given a reader of entries by chunk number."""
        fd = os.open(segment.index_path, os.O_RDONLY)
        try:
            def entry(number: int) -> IndexEntry:
                return INDEX.unpack(os.pread(fd, INDEX.size, number * INDEX.size))  # type: ignore[return-value]
            return entry(find(entry))
        finally:
            os.close(fd)

    def read_chunk(self, offset: int) -> list[StreamRecord]:
        """The messages of the chunk that holds ``offset`` (a binary search of one index, one read)."""
        segment = self._segment_of(offset)
        if segment is None or offset >= segment.next:
            return []

        def last_starting_at_or_before(entry: Callable[[int], IndexEntry]) -> int:
            lo, hi = 0, segment.chunks
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if entry(mid)[0] <= offset:
                    lo = mid
                else:
                    hi = mid
            return lo

        position = self._entry(segment, last_starting_at_or_before)[2]
        fd = os.open(segment.path, os.O_RDONLY)
        try:
            _, first, _, _, length, _ = HEADER.unpack(os.pread(fd, HEADER.size, position))
            return decode_records(first, os.pread(fd, length, position + HEADER.size))
        finally:
            os.close(fd)

    def last_chunk_offset(self) -> int:
        """The first offset of the last chunk on disk (x-stream-offset 'last')."""
        for segment in reversed(self.segments):
            if segment.chunks:
                return self._entry(segment, lambda entry: segment.chunks - 1)[0]
        return self.next

    def offset_at(self, millis: int) -> int:
        """The first offset of the first chunk written at or after ``millis`` (next if none)."""
        for segment in self.segments:
            if segment.chunks and segment.last_timestamp >= millis:
                def first_written_since(entry: Callable[[int], IndexEntry]) -> int:
                    lo, hi = 0, segment.chunks
                    while lo < hi:
                        mid = (lo + hi) // 2
                        if entry(mid)[1] < millis:
                            lo = mid + 1
                        else:
                            hi = mid
                    return lo

                return self._entry(segment, first_written_since)[0]
        return self.next

    def destroy(self) -> None:
        """The stream is deleted: its files go."""
        self.destroyed = True
        self.segments = []
        self._pending = []
        shutil.rmtree(self.directory, ignore_errors=True)

    # -- recovery ----------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Read back the segments: each index is checked against its segment, and the chunks after
        the last good index entry are scanned; a torn or corrupt chunk and everything after it
        in that segment are cut off (only the last batch can be torn: each batch is fsynced)."""
        for path in sorted(self.directory.glob("*.segment")):
            segment = Segment(self.directory, int(path.stem), int(path.stem))
            self._recover_segment(segment)
            if segment.chunks:
                self.segments.append(segment)
            else:
                segment.path.unlink(missing_ok=True)
                segment.index_path.unlink(missing_ok=True)

    def _recover_segment(self, segment: Segment) -> None:
        data_size = segment.path.stat().st_size
        entries: list[tuple[int, int, int]] = []
        if segment.index_path.exists():
            raw = segment.index_path.read_bytes()
            entries = [INDEX.unpack_from(raw, i) for i in range(0, len(raw) - len(raw) % INDEX.size, INDEX.size)]
        with open(segment.path, "rb") as handle:
            def chunk_at(position: int) -> tuple[int, int, int, int] | None:
                """(first, count, timestamp, end) of an intact chunk at position, else None."""
                handle.seek(position)
                header = handle.read(HEADER.size)
                if len(header) < HEADER.size:
                    return None
                magic, first, count, timestamp, length, crc = HEADER.unpack(header)
                if magic != MAGIC or position + HEADER.size + length > data_size:
                    return None
                if zlib.crc32(handle.read(length)) != crc:
                    return None
                return first, count, timestamp, position + HEADER.size + length

            while entries and chunk_at(entries[-1][2]) is None:  # an index ahead of its segment
                entries.pop()
            position = entries[-1][2] if entries else 0
            if entries:
                entries.pop()  # rescanned below with the chunks after it
            while True:
                chunk = chunk_at(position)
                if chunk is None:
                    break
                first, count, timestamp, end = chunk
                entries.append((first, timestamp, position))
                segment.next, segment.last_timestamp = first + count, timestamp
                position = end
        if position < data_size:
            os.truncate(segment.path, position)
        segment.size, segment.chunks = position, len(entries)
        with open(segment.index_path, "wb") as index:
            index.write(b"".join(INDEX.pack(*entry) for entry in entries))
