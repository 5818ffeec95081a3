"""A loopback HTTP server for the remote-image tests (no outside network): images in several
formats and sizes, and the failure cases a user can meet (404, 500, bytes that are no image, a
truncated image), plus the URL of a port nobody listens on."""

from __future__ import annotations

import http.server
import io
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image


def encoded(fmt: str, w: int, h: int, mode: str = "RGB", color: object = "red", **save) -> bytes:
    buf = io.BytesIO()
    Image.new(mode, (w, h), color).save(buf, format=fmt, **save)
    return buf.getvalue()


def jpeg_rotated(w: int, h: int) -> bytes:
    """EXIF orientation 6: vLLM's pixels are h×w after a transpose, mistral_common's size w×h."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return encoded("JPEG", w, h, color="blue", exif=exif)


def noisy_jpeg(w: int, h: int) -> bytes:
    """A JPEG with real entropy-coded data, so that cutting it leaves a truncated scan."""
    image = Image.effect_noise((w, h), 64).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def corrupt_png(w: int, h: int) -> bytes:
    """A structurally complete PNG (chunks and CRCs valid) whose zlib data is corrupt: PIL opens
    it and fails only when it decodes the pixels ("broken data stream")."""
    import struct
    import zlib

    image = Image.effect_noise((w, h), 64).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    at = data.find(b"IDAT")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    for k in range(64):
        data[at + 4 + length // 2 + k] ^= 0x5A
    crc = zlib.crc32(bytes(data[at : at + 4 + length])) & 0xFFFFFFFF
    data[at + 4 + length : at + 8 + length] = struct.pack(">I", crc)
    return bytes(data)


def corrupt_webp(w: int, h: int) -> bytes:
    """A lossy WebP whose container is valid but whose VP8 data stops halfway (RIFF and chunk
    sizes fixed): PIL opens it and fails only when libwebp decodes the frame."""
    import struct

    image = Image.effect_noise((w, h), 64).convert("RGB")
    buf = io.BytesIO()
    image.save(buf, format="WEBP", quality=90)
    data = buf.getvalue()
    assert data[12:16] == b"VP8 ", data[12:16]
    (length,) = struct.unpack("<I", data[16:20])
    vp8 = data[20 : 20 + length // 4 * 2]
    body = b"WEBP" + b"VP8 " + struct.pack("<I", len(vp8)) + vp8
    return b"RIFF" + struct.pack("<I", len(body)) + body


# path -> (status, body)
ROUTES: dict[str, tuple[int, bytes]] = {
    "/a.png": (200, encoded("PNG", 300, 1200)),
    "/b.jpg": (200, jpeg_rotated(640, 200)),
    "/big.png": (200, encoded("PNG", 2000, 2000, color="green")),
    "/c.gif": (200, encoded("GIF", 33, 17, mode="P", color=3)),
    "/d.webp": (200, encoded("WEBP", 1500, 40)),
    "/e.bmp": (200, encoded("BMP", 64, 700)),
    "/rgba.png": (200, encoded("PNG", 120, 90, mode="RGBA", color=(1, 2, 3, 4))),
    "/wide.png": (200, encoded("PNG", 4000, 3)),
    "/missing.png": (404, b"<html>Not Found</html>"),
    "/broken.png": (500, b"internal error"),
    "/text.png": (200, b"this is not an image at all, just text\n" * 20),
    "/truncated.jpg": (200, noisy_jpeg(200, 200)[:-2000]),
    "/corrupt.png": (200, corrupt_png(120, 80)),
    "/corrupt.webp": (200, corrupt_webp(120, 80)),
}

GOOD = ["/a.png", "/b.jpg", "/big.png", "/c.gif", "/d.webp", "/e.bmp", "/rgba.png", "/wide.png"]
BAD = ["/missing.png", "/broken.png", "/text.png", "/truncated.jpg"]


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        status, body = ROUTES.get(self.path, (404, b""))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def serving() -> Iterator[str]:
    """``http://127.0.0.1:PORT`` while the server runs."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def unreachable_url() -> str:
    """A loopback URL whose port was just free: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/gone.png"
