"""The decoders Pillow decodes images with, next to those the native image checks reproduce.

The native checks follow libwebp, libjpeg-turbo and zlib-ng as Pillow 13.0.0's wheels link them
(``REPRODUCED``, from the Rust core). With other decoders the checks that depend on them answer
``UnsupportedFeatureError`` (mistral_common decides). The binding calls :func:`pillow_decoders`
once per process, the first time such a check runs.
"""

from __future__ import annotations

from mistral_tok._native import _REPRODUCED_DECODERS

__all__ = ["REPRODUCED", "pillow_decoders"]

#: ``{"webp": ..., "jpeg": ..., "zlib": ...}``, each ``"<library> <version>"``.
REPRODUCED: dict[str, str] = dict(_REPRODUCED_DECODERS)


def pillow_decoders() -> dict[str, str | None] | None:
    """The installed Pillow's decoder per codec (``None``: it has none), or ``None`` without
    Pillow. ``PIL.features.version("zlib")`` names the zlib Pillow was built against; when it was
    built for zlib-ng (``"zlib_ng"``), zlib-ng is what inflates PNG data."""
    try:
        from PIL import features
    except ImportError:
        return None

    def named(library: str, feature: str) -> str | None:
        version = features.version(feature)
        return None if version is None else f"{library} {version}"

    jpeg = named("libjpeg-turbo", "libjpeg_turbo")
    if jpeg is not None and features.check_feature("mozjpeg"):
        jpeg = named("mozjpeg", "libjpeg_turbo")
    return {
        "webp": named("libwebp", "webp"),
        "jpeg": jpeg or named("libjpeg", "jpg"),
        "zlib": named("zlib-ng", "zlib_ng") or named("zlib", "zlib"),
    }
