"""Type stubs for the compiled module ``mistral_tok._native``."""

from asyncio import Future
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any, Literal, TypeAlias, final, overload

__version__: str
__all__ = [
    "DecodeError",
    "MistralTokError",
    "RequestError",
    "Tokenizer",
    "TokenizerFileError",
    "UnsupportedFeatureError",
    "__version__",
    "_image_tokens",
    "_tokenizer_from_bytes",
    "audio_info",
    "image_size",
    "max_queue",
    "set_max_queue",
]

class MistralTokError(ValueError): ...
class TokenizerFileError(MistralTokError): ...
class RequestError(MistralTokError): ...
class UnsupportedFeatureError(RequestError): ...
class DecodeError(MistralTokError): ...

_SpecialTokenPolicy: TypeAlias = Literal["ignore", "keep", "raise"]

@final
class Tokenizer:
    @staticmethod
    def from_file(path: str | PathLike[str]) -> Tokenizer:
        """Load a tekken ``.json`` or SentencePiece ``.model[.vN[m1]]`` file.

        The file name decides the kind and the version, as in mistral_common.
        """
    def encode(self, text: str, *, bos: bool = False, eos: bool = False) -> list[int]: ...
    def encode_fim(self, prompt: str, suffix: str | None = None) -> list[int]:
        """``<s>[SUFFIX]suffix[PREFIX]prompt`` exactly as mistral_common's ``encode_fim`` (V2+)."""
    def encode_chat(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        continue_final_message: bool = False,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        **request_fields: Any,
    ) -> list[int]:
        """Chat request (OpenAI format) → token ids, identical to mistral_common's
        ``encode_chat_completion(ChatCompletionRequest.from_openai(messages, tools,
        continue_final_message=..., **request_fields), max_model_input_len).tokens``.

        With ``truncate_for_context_length=True`` (a request field) ``max_model_input_len`` is
        required: V7+ drop whole turns from the front (system messages and the last user turn
        stay) until the ids after BOS fit, else ``RequestError("Input couldn't fit in
        truncate_at_max_token")``; V1–V3 ignore the length. Without the flag it is ignored.

        ``request_fields`` are the other request fields (``reasoning_effort``, ``tool_choice``,
        ``parallel_tool_calls``, ``seed``/``random_seed``, ``response_format``, ...), validated as
        mistral_common does; unknown ones are ignored. Raises ``RequestError`` where
        mistral_common rejects the request, ``UnsupportedFeatureError`` (a ``RequestError``) for
        requests the native encoder does not handle (images, audio, a few lone-surrogate and
        nesting-depth corner cases) so that callers can fall back to mistral_common.
        The arguments are never modified.

        ``check_pixels`` (default True): PNG image data is inflated, and a GIF's or WebP's first
        frame decoded, as PIL's loader does, so an image that mistral_common refuses for corrupt
        or cut image data is refused here too. ``False`` skips that, for callers that have
        themselves loaded every image with PIL (``Image.open(...).load()``) and vouch that it
        succeeded: a PNG with corrupt image data, or ending inside it, is then accepted (a GIF
        with corrupt LZW data, a WebP with a corrupt frame too; JPEG checks stay on). vLLM's
        media loading is no such guarantee (its first ``load()`` runs inside
        ``ImageOps.exif_transpose``, whose errors are swallowed, and the second is a no-op), so
        the vLLM shims keep the check on.
        """
    def encode_chat_with_images(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        continue_final_message: bool = False,
        image_sizes: Mapping[str, tuple[int, int]] | None = None,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        **request_fields: Any,
    ) -> tuple[list[int], list[dict[str, int]]]:
        """``encode_chat`` plus one dict per encoded image, in order: ``width``, ``height`` (PIL's
        size), ``width_tokens``, ``height_tokens`` and ``resized_width``, ``resized_height`` (the
        size mistral_common resizes the pixels to). As in mistral_common's ``Tokenized.images``,
        the images of turns dropped by truncation stay in the list.

        ``image_sizes`` maps ``http(s)`` image URLs the caller has already fetched (vLLM has, before
        it tokenizes) to their ``(width, height)``; other remote URLs raise
        ``UnsupportedFeatureError``, as mistral_common would download them."""
    @overload
    def encode_chat_async(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        continue_final_message: bool = False,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        with_text: Literal[False] = False,
        **request_fields: Any,
    ) -> Future[list[int]]:
        """``await`` it inside a running event loop: ``encode_chat`` computed on the worker
        thread (the arguments are converted at the call, so later changes to them do not matter).
        ``with_text=True``: ``(ids, text)``, the prompt decoded with special tokens kept on the
        worker too (a caller that needs both never reads the ids back on the loop); a policy name
        (``"ignore"``, ...) decodes with that policy instead.
        """
    @overload
    def encode_chat_async(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        continue_final_message: bool = False,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        with_text: Literal[True] | _SpecialTokenPolicy,
        **request_fields: Any,
    ) -> Future[tuple[list[int], str]]: ...
    def encode_chat_with_images_async(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        continue_final_message: bool = False,
        image_sizes: Mapping[str, tuple[int, int]] | None = None,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        **request_fields: Any,
    ) -> Future[tuple[list[int], list[dict[str, int]]]]:
        """``await`` it inside a running event loop: ``encode_chat_with_images`` computed on the
        worker thread. Long image URLs are lent to the worker, not copied on the loop.
        """
    def encode_chat_batch(
        self,
        conversations: Iterable[Sequence[Mapping[str, Any]]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        num_threads: int | None = None,
        errors: Literal["raise", "return"] = "raise",
        continue_final_message: bool = False,
        max_model_input_len: int | None = None,
        check_pixels: bool = True,
        **request_fields: Any,
    ) -> list[list[int]] | list[list[int] | RequestError | Exception]:
        """``[encode_chat(messages, tools, **request_fields) for messages in conversations]``,
        encoded on ``num_threads`` threads (default: one per core) with the GIL released; the
        conversations are read on the calling thread first.

        ``errors="raise"``: the first failing row's exception is raised (the rows are all read
        before any is encoded). ``errors="return"``: a failing row's exception object takes the
        place of its ids (``RequestError``, ``UnsupportedFeatureError`` for a row the native
        encoder does not cover, ``TypeError`` for a malformed row) and the batch goes on.
        """
    def decode(
        self, ids: list[int], *, special_token_policy: _SpecialTokenPolicy = "ignore"
    ) -> str: ...
    def encode_async(self, text: str, *, bos: bool = False, eos: bool = False) -> Future[list[int]]:
        """``await`` it inside a running event loop: ``encode`` computed on the worker thread."""
    def decode_async(
        self, ids: list[int], *, special_token_policy: _SpecialTokenPolicy = "ignore"
    ) -> Future[str]:
        """``await`` it inside a running event loop: ``decode`` computed on the worker thread."""
    def id_to_piece(self, id: int) -> str: ...
    def special_token_id(self, name: str) -> int: ...
    def is_special(self, id: int) -> bool: ...
    def __reduce__(self) -> tuple[Any, tuple[str, bytes]]:
        """Pickles with the file's contents: the tokenizer can be sent to processes (Ray,
        multiprocessing, ``datasets.map(num_proc=...)``) that lack the file. The file is read
        again when pickled; ``TokenizerFileError`` if it changed since it was loaded."""
    @property
    def version(self) -> int: ...
    @property
    def kind(self) -> Literal["tekken", "sentencepiece"]: ...
    @property
    def path(self) -> PathLike[str]: ...
    @property
    def vocab_size(self) -> int: ...
    @property
    def num_special_tokens(self) -> int: ...
    @property
    def bos_id(self) -> int: ...
    @property
    def eos_id(self) -> int: ...
    @property
    def pad_id(self) -> int: ...
    @property
    def unk_id(self) -> int: ...
    @property
    def image(self) -> dict[str, int] | None: ...
    @property
    def audio(self) -> dict[str, Any] | None: ...
    @property
    def model_settings_builder(self) -> dict[str, Any] | None: ...
    @overload
    def encode_transcription(
        self,
        audio: str | bytes,
        *,
        language: str | None = None,
        streaming: Literal["disabled", "online", "offline"] = "disabled",
        target_streaming_delay_ms: int | None = None,
        return_audio: Literal[False] = False,
    ) -> list[int]:
        """``MistralTokenizer.encode_transcription(TranscriptionRequest(audio=audio, language=...,
        streaming=..., target_streaming_delay_ms=...)).tokens`` (audio: base64 text, optionally a
        data URL, or encoded bytes), GIL released. With ``return_audio=True``, also its
        ``audios``: ``{"array": memoryview, "sampling_rate": int}`` per audio, float32 samples
        with the padding (``numpy.frombuffer(d["array"], dtype=numpy.float32)`` views them);
        produced natively only for 16-bit PCM WAV needing no resampling, else
        ``UnsupportedFeatureError``.
        """
    @overload
    def encode_transcription(
        self,
        audio: str | bytes,
        *,
        language: str | None = None,
        streaming: Literal["disabled", "online", "offline"] = "disabled",
        target_streaming_delay_ms: int | None = None,
        return_audio: Literal[True],
    ) -> tuple[list[int], list[dict[str, Any]]]: ...
    def encode_transcription_samples(
        self,
        samples: bytes | Any,
        sample_rate: int,
        *,
        language: str | None = None,
        streaming: Literal["disabled", "online", "offline"] = "disabled",
        target_streaming_delay_ms: int | None = None,
        return_audio: bool = False,
    ) -> list[int] | tuple[list[int], list[dict[str, Any]]]:
        """``encode_transcription`` of the WAV ``soundfile.write(buf, samples, sample_rate,
        format="WAV")`` writes for a mono float32 chunk given as its native-order bytes
        (``array.tobytes()``) or as the 1-D C-contiguous float32 ``numpy.ndarray`` itself (read
        in place, not copied): vLLM's Voxtral transcription prompt without the WAV and base64
        round trip (PCM_16 quantization as soundfile does it, clipping included)."""
    def encode_transcription_async(
        self,
        audio: str | bytes,
        *,
        language: str | None = None,
        streaming: Literal["disabled", "online", "offline"] = "disabled",
        target_streaming_delay_ms: int | None = None,
        return_audio: bool = False,
    ) -> Future[list[int] | tuple[list[int], list[dict[str, Any]]]]:
        """``await`` it inside a running event loop: ``encode_transcription`` computed on the
        worker thread (same result, same exceptions)."""
    def encode_transcription_samples_async(
        self,
        samples: bytes | Any,
        sample_rate: int,
        *,
        language: str | None = None,
        streaming: Literal["disabled", "online", "offline"] = "disabled",
        target_streaming_delay_ms: int | None = None,
        return_audio: bool = False,
    ) -> Future[list[int] | tuple[list[int], list[dict[str, Any]]]]:
        """``await`` it inside a running event loop: ``encode_transcription_samples`` computed on
        the worker thread (same result, same exceptions). The samples are read in place on the
        worker: an array must not be written to until the awaitable completes."""
    def encode_chat_with_audio(
        self,
        messages: Sequence[Mapping[str, Any]],
        tools: Sequence[Mapping[str, Any]] | None = None,
        *,
        audio_infos: Mapping[str, tuple[int, int]] | None = None,
        max_model_input_len: int | None = None,
        **request_fields: Any,
    ) -> tuple[list[int], list[dict[str, int]]]:
        """``encode_chat`` where ``audio_infos`` maps ``http(s)`` audio URLs the caller fetched
        to ``audio_info(bytes)`` of what it received. Also returns, per audio chunk,
        ``{"tokens": n, "samples": padded length at the tokenizer's rate}``."""

def image_size(data: bytes, *, check_pixels: bool = True) -> tuple[int, int]:
    """``(width, height)`` of encoded image bytes as mistral_common reads them (PIL's
    ``Image.open(...).size``, EXIF orientation not applied), GIL released.

    For ``image_sizes=`` when the caller fetched a remote image itself. Raises ``RequestError``
    where mistral_common would fail on the image (bad header, truncated JPEG, corrupt PNG or GIF
    data, ...) and ``UnsupportedFeatureError`` where only a full pixel decode could tell, or for
    formats not read natively. ``check_pixels`` as in ``Tokenizer.encode_chat``.
    """

def audio_info(data: bytes) -> tuple[int, int]:
    """``(frames, sample_rate)`` of encoded mono audio as ``soundfile`` decodes it (what
    mistral_common's ``Audio.from_bytes`` reads), GIL released. ``RequestError`` where
    mistral_common raises (multi-channel, unreadable data), ``UnsupportedFeatureError`` for
    formats and layouts not read natively (MP3, ADPCM WAV, ...). For ``audio_infos=``."""

def _image_tokens(
    image: str | bytes,
    image_patch_size: int,
    max_image_size: int,
    spatial_merge_size: int = 1,
    *,
    kind: Literal["image_url", "image"] = "image_url",
    ids: tuple[int, int, int] = ...,
    check_pixels: bool = True,
) -> tuple[list[int], tuple[int, int], tuple[int, int]]:
    """Test helper: one image's ``[IMG]`` layout ``(ids, (w_tok, h_tok), (width, height))``.

    ``image`` is an ``image_url`` URL (``kind="image_url"``), an ``image`` chunk string
    (``kind="image"``, base64 or a data URL) or encoded bytes; ``ids`` are (img, img_break,
    img_end), by default (10, 12, 13).
    """

def _tokenizer_from_bytes(path: str | PathLike[str], data: bytes) -> Tokenizer:
    """Unpickling: the tokenizer of the file ``path`` names, from its contents ``data`` (the
    path is not opened; its name decides the kind and version as in ``from_file``)."""

def set_max_queue(n: int) -> None:
    """At most ``n`` jobs may wait for the worker thread (0 = unlimited); beyond that an
    ``*_async`` call raises ``MistralTokError`` at once. Default: ``MISTRAL_TOK_MAX_QUEUE`` or 0."""

def max_queue() -> int:
    """The current limit set by :func:`set_max_queue` (0 = unlimited)."""
