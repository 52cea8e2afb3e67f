"""The vLLM release the simulator claims to be (`SIM_VLLM_VERSION`, default 0.11.0) and what it then does
differently, as that release of vLLM does (its source; contract/vllm-requests.toml holds the same facts for
the suite, so the simulator can exercise every row of it, not only 0.11's).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, replace

DEFAULT_VERSION = "0.11.0"


@dataclass(frozen=True)
class ClaimedVersion:
    release: tuple[int, int, int] = (0, 11, 0)  # whose behaviour it has
    reported: tuple[int, int, int] | None = None  # what GET /version says, when it is not `release` (a fault)

    def behaving_as_minor(self, minor: int) -> ClaimedVersion:
        """Still reporting this release, but answering as vLLM 0.`minor`.0 does (the behaves_as_minor fault)."""
        return replace(self, release=(0, minor, 0), reported=self.reported or self.release) if minor else self

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ClaimedVersion:
        raw = (os.environ if env is None else env).get("SIM_VLLM_VERSION", "").strip() or DEFAULT_VERSION
        match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", raw)
        if not match:
            raise ValueError(f"SIM_VLLM_VERSION {raw!r} is not a release like 0.25.0")
        return cls((int(match[1]), int(match[2]), int(match[3] or 0)))

    @property
    def text(self) -> str:
        """What GET /version answers: the release, marked as the simulator's."""
        return ".".join(map(str, self.reported or self.release)) + "+simulator"

    @property
    def missing_media_status(self) -> int:
        """A media URL answering 404: 500 up to 0.24, 422 UnprocessableEntityError from 0.25."""
        return 422 if self.release >= (0, 25, 0) else 500

    @property
    def zero_max_tokens_is_unset(self) -> bool:
        """max_completion_tokens 0 counts as unset up to 0.15 (`max_completion_tokens or max_tokens`)."""
        return self.release < (0, 16, 0)

    @property
    def clamps_completion_to_context(self) -> bool:
        """From 0.32 a cap that does not fit what the context has left is cut to it; before, it is a 400."""
        return self.release >= (0, 32, 0)

    @property
    def not_audio_status(self) -> int:
        """A payload that is not audio: 400, but 500 in 0.18.x (its RuntimeError no longer caught)."""
        return 500 if (0, 18, 0) <= self.release < (0, 19, 0) else 400

    @property
    def refusal_status(self) -> int:
        """A file:// URL without --allowed-local-media-path: 400 up to 0.17, 500 from 0.18 (a RuntimeError), 400
        again from 0.34 (a VLLMValidationError)."""
        return 500 if (0, 18, 0) <= self.release < (0, 34, 0) else 400

    def lora_kind(self, part_type: str) -> str:
        """The modality a content part's type names for --default-mm-loras: its type up to the first "_"
        (image_url -> image, input_audio -> input) up to 0.33; from 0.34 an `input_` prefix is dropped first
        (input_audio -> audio), 0.34 entrypoints/serve/engine/serving.py _get_message_types."""
        if self.release >= (0, 34, 0) and part_type.startswith("input_"):
            return part_type.removeprefix("input_")
        return part_type.split("_")[0]

    @property
    def tokenize_counts_media(self) -> bool:
        """POST /tokenize counts chat media as the chat endpoint does from 0.17 (its renderer runs the processor;
        measured 0.18, 0.23, 0.32); 0.13 counts the text and one placeholder an item (measured)."""
        return self.release >= (0, 17, 0)

    @property
    def unknown_part_status(self) -> int:
        """A content part of an unknown type: its NotImplementedError is a 400 up to 0.17 (caught as a
        RuntimeError), a 501 in 0.18-0.20 (rendering raises it to the app's handler), a 400 from 0.21 (a
        VLLMValidationError); measured 0.13 and 0.23: 400, 0.18: 501."""
        return 501 if (0, 18, 0) <= self.release < (0, 21, 0) else 400

    def embeds_refusal(self, kind: str) -> tuple[int, str, str | None] | None:
        """An image_embeds or audio_embeds part on a server without --enable-mm-embeds: the status, message and
        param of its refusal, or None where the part type is not refused so (0.11.0 has no flag and torch.load's
        the image payload; audio_embeds is an unknown part type before 0.12). The flag is checked before the
        payload is read, a ValueError (400, its message + " None" up to 0.14) and from 0.27 a
        VLLMValidationError naming the parameter (chat_utils.py parse_image_embeds, read 0.11.1-0.34.0)."""
        if self.release < ((0, 11, 1) if kind == "image_embeds" else (0, 12, 0)):
            return None
        message = f"You must set `--enable-mm-embeds` to input `{kind}`"
        if self.release >= (0, 27, 0):
            return 400, f"{message} (parameter={kind})", kind
        return 400, message + (" None" if self.release < (0, 15, 0) else ""), None

    @property
    def stream_usage_by_default(self) -> bool:
        """stream_options' include_usage defaults to True up to 0.17, to False from 0.18 (StreamOptions)."""
        return self.release < (0, 18, 0)

    @property
    def omits_null_annotations(self) -> bool:
        """From 0.34 message.annotations and usage.prompt_tokens_details are left out when null (exclude_if)."""
        return self.release >= (0, 34, 0)

    @property
    def unparsed_data_url_status(self) -> int:
        """A data: URL that is not base64: 400 up to 0.17, 501 (NotImplementedError) from 0.18."""
        return 501 if self.release >= (0, 18, 0) else 400

    def fetch_failure_status(self, http_status: int) -> int:
        """A media URL answering an error: 500 up to 0.24; from 0.25 5xx are retried, then 500, 408 and 429 are
        500 at once (not retried: 0.32-0.34 connections.py _is_retryable), other 4xx are 422."""
        return self.missing_media_status if http_status not in (408, 429) and http_status < 500 else 500

    @property
    def limits_audio_size(self) -> bool:
        """Chat audio over VLLM_MAX_AUDIO_CLIP_FILESIZE_MB is refused (400) from 0.29."""
        return self.release >= (0, 29, 0)

    @property
    def limits_audio_duration(self) -> bool:
        """Audio longer than VLLM_MAX_AUDIO_DECODE_DURATION_S is refused (400) from 0.24."""
        return self.release >= (0, 24, 0)

    @property
    def download_too_large_status(self) -> int:
        """A media download over VLLM_MAX_MEDIA_DOWNLOAD_SIZE_MB: 422 (the limit exists from 0.29)."""
        return 422

    @property
    def limits_download_size(self) -> bool:
        return self.release >= (0, 29, 0)

    @property
    def raised_errors_as_200(self) -> bool:
        """0.15.0-0.16.0 answer an error raised out of the chat handler with HTTP 200 and the error body."""
        return (0, 15, 0) <= self.release < (0, 17, 0)

    @property
    def input_audio_uuid_drops_data(self) -> bool:
        """0.11-0.21: an input_audio part with a uuid loses its data (500 at assert_never); kept from 0.22."""
        return self.release < (0, 22, 0)

    def uuid_reference_refusal(self, kind: str) -> tuple[int, str] | None:
        """A part naming only a uuid (its data null): an image is served from the processor cache in every
        release; audio up to 0.29 is refused, input_audio 400 (no media key), audio_url 500 (assert_never)."""
        if kind == "image_url" or self.release >= (0, 30, 0):
            return None
        return (400, "Missing 'type' field in multimodal part.") if kind == "input_audio" else (
            500, "Expected code to be unreachable, but got: None")

    @property
    def internal_error_type(self) -> str:
        return "InternalServerError" if self.release >= (0, 17, 0) else "Internal Server Error"
