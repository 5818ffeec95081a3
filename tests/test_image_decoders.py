"""The image checks follow the decoders of one Pillow build (``mistral_tok._decoders``): CI runs
with that build, and a Pillow with other decoders turns the checks that depend on them into
``UnsupportedFeatureError`` instead of a guess."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import mistral_tok
from mistral_tok import _decoders


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (37, 29), (200, 30, 90)).save(buf, format=fmt)
    return buf.getvalue()


def test_the_pillow_under_test_links_the_reproduced_decoders() -> None:
    assert _decoders.REPRODUCED == {
        "webp": "libwebp 1.6.0",
        "jpeg": "libjpeg-turbo 3.2.0",
        "zlib": "zlib-ng 2.3.3",
    }
    assert _decoders.pillow_decoders() == _decoders.REPRODUCED


def test_the_checks_stand_with_the_reproduced_decoders() -> None:
    for fmt in ("PNG", "JPEG", "WEBP", "GIF"):
        assert mistral_tok.image_size(_encoded(fmt)) == (37, 29)


@pytest.mark.own_process  # the host's decoders are read once per process
def test_other_decoders_leave_their_formats_to_mistral_common(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    other = {"webp": "libwebp 1.5.0", "jpeg": None, "zlib": "zlib-ng 2.3.3"}
    monkeypatch.setattr(_decoders, "pillow_decoders", lambda: other)
    for fmt, expected in [("WEBP", "WebP with libwebp 1.5.0"), ("JPEG", "JPEG with no decoder")]:
        with pytest.raises(mistral_tok.UnsupportedFeatureError, match=expected):
            mistral_tok.image_size(_encoded(fmt))
    # The WebP header alone is not libwebp's judgement; PNG and GIF keep their checks.
    assert mistral_tok.image_size(_encoded("WEBP"), check_pixels=False) == (37, 29)
    assert mistral_tok.image_size(_encoded("PNG")) == (37, 29)
    assert mistral_tok.image_size(_encoded("GIF")) == (37, 29)
