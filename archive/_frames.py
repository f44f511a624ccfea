"""Finding zstd frame boundaries in a segment without decompressing it.

A segment is a sequence of independent zstd frames. The frame format (RFC 8878 §3.1) puts
every block's size in a 3-byte block header, so walking headers gives each frame's exact
extent; a frame that runs past the end of the data is a torn tail, and a span that does not
start with a frame magic number is damage. Walking is cheap (a few header reads per frame)
and lets the reader name the byte offset of a bad frame and resynchronise after it.
"""

from __future__ import annotations

import dataclasses
from typing import Final

import zstandard

__all__ = [
    "FRAME_MAGIC",
    "FrameSpan",
    "Walk",
    "count_partial_lines",
    "decompress_frame",
    "find_next_magic",
    "intact_frame_after",
    "walk_frames",
]

FRAME_MAGIC: Final = b"\x28\xb5\x2f\xfd"
_SKIPPABLE_LO: Final = 0x184D2A50
_SKIPPABLE_HI: Final = 0x184D2A5F
_DCTX: Final = zstandard.ZstdDecompressor()


@dataclasses.dataclass(frozen=True, slots=True)
class FrameSpan:
    """One complete frame ``data[start:end]``; ``skippable`` frames carry no records."""

    start: int
    end: int
    skippable: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Walk:
    """The result of walking a buffer: complete frames, and what stopped the walk.

    ``stop`` is the offset where the walk stopped (``len(data)`` when every byte belongs to
    a complete frame); ``reason`` is ``None`` then, ``"truncated"`` when the last frame runs
    past the end, or a description of the damage found at ``stop``.
    """

    frames: list[FrameSpan]
    stop: int
    reason: str | None

    @property
    def truncated(self) -> bool:
        return self.reason == "truncated"


def _frame_end(data: memoryview, start: int) -> int | str:
    """End offset of the frame starting at ``start``, ``"truncated"``, or a damage reason."""
    size = len(data)
    if size - start < 4:
        return "truncated"
    magic = int.from_bytes(data[start : start + 4], "little")
    if _SKIPPABLE_LO <= magic <= _SKIPPABLE_HI:
        if size - start < 8:
            return "truncated"
        end = start + 8 + int.from_bytes(data[start + 4 : start + 8], "little")
        return end if end <= size else "truncated"
    if bytes(data[start : start + 4]) != FRAME_MAGIC:
        return "no zstd frame magic number"
    if size - start < 5:
        return "truncated"
    descriptor = data[start + 4]
    if descriptor & 0x08:
        return "reserved bit set in frame header"
    fcs_flag = descriptor >> 6
    single_segment = bool(descriptor & 0x20)
    has_checksum = bool(descriptor & 0x04)
    dict_id_size = (0, 1, 2, 4)[descriptor & 0x03]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    pos = start + 5 + (0 if single_segment else 1) + dict_id_size + fcs_size
    while True:
        if size - pos < 3:
            return "truncated"
        header = int.from_bytes(data[pos : pos + 3], "little")
        last = header & 1
        block_type = (header >> 1) & 0x03
        block_size = header >> 3
        if block_type == 3:
            return "reserved block type"
        pos += 3 + (1 if block_type == 1 else block_size)
        if pos > size:
            return "truncated"
        if last:
            break
    if has_checksum:
        pos += 4
        if pos > size:
            return "truncated"
    return pos


def walk_frames(data: bytes | memoryview, start: int = 0) -> Walk:
    """Walk frame headers from ``start`` until the end or the first bad or torn frame."""
    view = data if isinstance(data, memoryview) else memoryview(data)
    frames: list[FrameSpan] = []
    pos = start
    size = len(view)
    while pos < size:
        end = _frame_end(view, pos)
        if isinstance(end, str):
            return Walk(frames, pos, end)
        skippable = bytes(view[pos : pos + 4]) != FRAME_MAGIC
        frames.append(FrameSpan(pos, end, skippable))
        pos = end
    return Walk(frames, pos, None)


def find_next_magic(data: bytes, start: int) -> int:
    """Offset of the next frame magic number at or after ``start``, or ``len(data)``."""
    found = data.find(FRAME_MAGIC, start)
    return len(data) if found < 0 else found


def intact_frame_after(data: bytes, offset: int) -> int | None:
    """Offset of an intact, decompressible frame after ``offset``, if there is one.

    What tells a torn tail (nothing whole after the cut) from damage in the middle: a frame
    whose block sizes were damaged also "runs past the end", but intact frames follow it.
    """
    pos = find_next_magic(data, offset + 1)
    while pos < len(data):
        walk = walk_frames(data, pos)
        if walk.frames:
            try:
                decompress_frame(data, walk.frames[0])
            except zstandard.ZstdError:
                pass
            else:
                return pos
        pos = find_next_magic(data, pos + 1)
    return None


def decompress_frame(data: bytes | memoryview, span: FrameSpan) -> bytes:
    """Decompress one complete frame (raises ``zstandard.ZstdError`` on damage)."""
    chunk = data[span.start : span.end]
    params = zstandard.get_frame_parameters(chunk)
    if params.content_size > 0 and params.content_size != zstandard.CONTENTSIZE_UNKNOWN:
        return _DCTX.decompress(chunk)
    # No content size in the header (a frame written by another tool): stream it.
    dobj = _DCTX.decompressobj()
    return dobj.decompress(chunk)


def count_partial_lines(data: bytes | memoryview, start: int) -> tuple[int, bool]:
    """Complete lines recoverable from a torn frame at ``data[start:]``.

    Returns ``(complete_lines, partial_line)``: the newline count of whatever a streaming
    decompressor yields before the data runs out or turns bad, and whether bytes of an
    unfinished line follow the last newline.
    """
    dobj = _DCTX.decompressobj()
    try:
        out = dobj.decompress(bytes(data[start:]))
    except zstandard.ZstdError:
        return 0, False
    lines = out.count(b"\n")
    return lines, bool(out) and not out.endswith(b"\n")
