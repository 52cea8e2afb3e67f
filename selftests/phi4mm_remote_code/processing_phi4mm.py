"""The HF processor of the tiny Phi-4-multimodal that the self-tests serve with real vLLM (loaded by vLLM from the
model folder with --trust-remote-code, through `auto_map`, as the real snapshot's own processing_phi4mm.py is).

Why our own: the snapshot's processor is remote code that is not available offline, and transformers' native
Phi4Multimodal classes compute the same features under other names and call conventions (and its image
processor needs torchvision, which does not load beside the CPU torch). This one takes what vLLM's phi4mm.py
passes (`images=[PIL]`, `audios=[(samples, rate)]`, text with `<|image_N|>` / `<|audio_N|>`) and returns what
it reads (`input_image_embeds`, `image_sizes`, `image_attention_mask`, `num_img_tokens`,
`input_audio_embeds`, `audio_embed_sizes`), with the snapshot's dynamic-HD cropping: the image fitted to a grid
of 448 px crops (at most `dynamic_hd`), padded white, a 32x32 mask per crop that is 0 over the padding, and a
448 px global view first. Audio features are transformers' Phi4MultimodalFeatureExtractor's (80 log-mel bins at
16 kHz, the snapshot's).
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from transformers import AutoTokenizer, BatchFeature, Phi4MultimodalFeatureExtractor
from transformers.processing_utils import ProcessorMixin

CROP, MASK, PATCH = 448, 32, 14  # SigLIP-so400m at 448 px: 32x32 patches of 14 px
IMAGE_TOKEN_ID, AUDIO_TOKEN_ID = 200010, 200011  # hard-coded in vLLM's phi4mm.py
IMAGE_PLACEHOLDER = re.compile(r"<\|image_(\d+)\|>")
AUDIO_PLACEHOLDER = re.compile(r"<\|audio_(\d+)\|>")


class Phi4MMImageProcessor:
    """Dynamic HD crops as the snapshot's image processor makes them."""

    def __init__(self, dynamic_hd: int) -> None:
        self.dynamic_hd = dynamic_hd

    def find_closest_aspect_ratio(self, aspect_ratio, target_ratios, width, height, image_size):
        best_ratio_diff, best_ratio = float("inf"), (1, 1)
        area = width * height
        for ratio in target_ratios:
            ratio_diff = abs(aspect_ratio - ratio[0] / ratio[1])
            if ratio_diff < best_ratio_diff:
                best_ratio_diff, best_ratio = ratio_diff, ratio
            elif ratio_diff == best_ratio_diff and area > 0.5 * image_size * image_size * ratio[0] * ratio[1]:
                best_ratio = ratio
        return best_ratio

    def grid(self, width: int, height: int) -> tuple[int, int]:
        columns, rows = math.ceil(width / CROP), math.ceil(height / CROP)
        if columns * rows <= self.dynamic_hd:
            return columns, rows
        ratios = sorted({(i, j) for i in range(1, self.dynamic_hd + 1) for j in range(1, self.dynamic_hd + 1)
                         if i * j <= self.dynamic_hd}, key=lambda ratio: ratio[0] * ratio[1])
        return self.find_closest_aspect_ratio(width / height, ratios, width, height, CROP)

    def crops(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
        """(global view + crops, 3, 448, 448), their masks (n, 32, 32), and [height, width] of the grid."""
        image = image.convert("RGB")
        width, height = image.size
        columns, rows = self.grid(width, height)
        target_w, target_h = columns * CROP, rows * CROP
        if target_w / width < target_h / height:
            size, pad_w, pad_h = (target_w, int(height * target_w / width)), 0, target_h - int(height * target_w / width)
        else:
            size, pad_w, pad_h = (int(width * target_h / height), target_h), target_w - int(width * target_h / height), 0
        mask = np.ones((MASK * rows, MASK * columns), dtype=np.int64)
        if pad_w >= PATCH:
            mask[:, -math.floor(pad_w / PATCH):] = 0
        if pad_h >= PATCH:
            mask[-math.floor(pad_h / PATCH):, :] = 0
        canvas = Image.new("RGB", (target_w, target_h), (255, 255, 255))
        canvas.paste(image.resize(size, Image.BICUBIC), (0, 0))
        pixels = (torch.from_numpy(np.asarray(canvas, dtype=np.float32) / 255.0).permute(2, 0, 1) - 0.5) / 0.5
        whole = torch.nn.functional.interpolate(pixels[None], size=(CROP, CROP), mode="bicubic", align_corners=False)
        tiles = pixels.reshape(3, rows, CROP, columns, CROP).permute(1, 3, 0, 2, 4).reshape(-1, 3, CROP, CROP)
        masks = torch.from_numpy(mask).reshape(rows, MASK, columns, MASK).permute(0, 2, 1, 3).reshape(-1, MASK, MASK)
        return (torch.cat([whole, tiles]), torch.cat([torch.ones(1, MASK, MASK, dtype=torch.int64), masks]),
                [target_h, target_w])

    def num_tokens(self, mask: torch.Tensor, grid_hw: list[int]) -> int:
        """What the encoder emits: the global view's 16x16 + newlines + separator, and the crops' 2x2-pooled
        unpadded features with a newline per row."""
        rows, columns = grid_hw[0] // CROP, grid_hw[1] // CROP
        sub = mask[1:1 + rows * columns, 0::2, 0::2].reshape(rows, columns, MASK // 2, MASK // 2)
        width = int(sub[0, :, 0, :].sum())
        height = int(sub[:, 0, :, 0].sum())
        return 256 + 16 + 1 + width * height + height


class Phi4MMProcessor(ProcessorMixin):
    """Tokenizer, image processor and audio feature extractor, called as vLLM's phi4mm.py calls the snapshot's."""

    attributes: list[str] = []

    def __init__(self, tokenizer, image_processor: Phi4MMImageProcessor,
                 audio_processor: Phi4MultimodalFeatureExtractor) -> None:
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.audio_processor = audio_processor
        self.chat_template = getattr(tokenizer, "chat_template", None)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        settings = json.loads((Path(path) / "preprocessor_config.json").read_text())
        tokenizer = kwargs.get("tokenizer") or AutoTokenizer.from_pretrained(path)
        return cls(tokenizer, Phi4MMImageProcessor(settings["dynamic_hd"]),
                   Phi4MultimodalFeatureExtractor(feature_size=80, sampling_rate=16000))

    def __call__(self, text=None, images=None, audios=None, return_tensors="pt", **kwargs) -> BatchFeature:
        # vLLM's phi4mm.py reads image_sizes for every request, audio-only ones too (0.32
        # _postprocess_hf_mm_data), and input_audio_embeds for image-only ones (0.23 _call_hf_processor, measured:
        # KeyError without it): no items of a kind is an empty batch of it, as the snapshot's processor gives
        data: dict = {"image_sizes": torch.zeros((0, 2), dtype=torch.int64),
                      "input_audio_embeds": torch.zeros((0, 0, 80)), "audio_embed_sizes": torch.zeros((0,), dtype=torch.int64)}
        image_tokens: list[int] = []
        if images:
            views = [self.image_processor.crops(image) for image in images]
            most = max(len(pixels) for pixels, _, _ in views)
            data["input_image_embeds"] = torch.stack([torch.cat([p, p.new_zeros(most - len(p), *p.shape[1:])])
                                                      for p, _, _ in views])
            data["image_attention_mask"] = torch.stack([torch.cat([m, m.new_zeros(most - len(m), MASK, MASK)])
                                                        for _, m, _ in views])
            data["image_sizes"] = torch.tensor([size for _, _, size in views])
            image_tokens = [self.image_processor.num_tokens(m, size) for _, m, size in views]
            data["num_img_tokens"] = torch.tensor(image_tokens)
        audio_tokens: list[int] = []
        if audios:
            features = self.audio_processor([samples for samples, _ in audios], sampling_rate=16000,
                                            return_tensors="pt")
            data["input_audio_embeds"] = features["audio_input_features"]
            data["audio_embed_sizes"] = features["audio_embed_sizes"]
            audio_tokens = [int(size) for size in features["audio_embed_sizes"]]
        texts = [text] if isinstance(text, str) else list(text or [])
        if texts:
            expanded = [self._expand(t, image_tokens, audio_tokens) for t in texts]
            data["input_ids"] = torch.tensor([ids for ids in expanded]) if len(expanded) == 1 else expanded
        return BatchFeature(data=data, tensor_type=None)

    def _expand(self, text: str, image_tokens: list[int], audio_tokens: list[int]) -> list[int]:
        """The prompt's ids with each <|image_N|> and <|audio_N|> replaced by as many placeholder ids as the item
        takes, as the snapshot's processor does."""
        ids: list[int] = []
        for piece in re.split(r"(<\|(?:image|audio)_\d+\|>)", text):
            if (match := IMAGE_PLACEHOLDER.fullmatch(piece)) and int(match[1]) <= len(image_tokens):
                ids += [IMAGE_TOKEN_ID] * image_tokens[int(match[1]) - 1]
            elif (match := AUDIO_PLACEHOLDER.fullmatch(piece)) and int(match[1]) <= len(audio_tokens):
                ids += [AUDIO_TOKEN_ID] * audio_tokens[int(match[1]) - 1]
            elif piece:
                ids += self.tokenizer.encode(piece, add_special_tokens=False)
        return ids
