"""PNG building blocks for tests that make files PIL must open (or refuse) byte by byte."""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(cid: bytes, payload: bytes) -> bytes:
    """One chunk: length, type, payload and the CRC PIL checks before the image data."""
    return (
        struct.pack(">I", len(payload))
        + cid
        + payload
        + struct.pack(">I", zlib.crc32(cid + payload))
    )
