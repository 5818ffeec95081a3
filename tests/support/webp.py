"""WebP (RIFF) building blocks for tests that take PIL's files apart and put them back."""

from __future__ import annotations

import struct

Chunk = tuple[bytes, bytes]  # (fourcc, payload without the pad byte)


def chunk(fourcc: bytes, payload: bytes) -> bytes:
    """One chunk, padded to an even length."""
    return fourcc + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def split(data: bytes, start: int = 12, end: int | None = None) -> list[Chunk]:
    """The chunks laid end to end in ``data[start:end]`` (a RIFF file's, by default)."""
    end = len(data) if end is None else end
    out = []
    while start + 8 <= end:
        size = struct.unpack_from("<I", data, start + 4)[0]
        out.append((data[start : start + 4], data[start + 8 : start + 8 + size]))
        start += 8 + size + (size & 1)
    return out


def join(chunks: list[Chunk]) -> bytes:
    return b"".join(chunk(c, p) for c, p in chunks)


def riff(chunks: list[Chunk]) -> bytes:
    """A WebP file holding these chunks, its RIFF size right."""
    body = b"WEBP" + join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
