"""Regenerate the suite's test images, their manifest and the simulator's knowledge of them.

Run `python images/generate.py` after changing an item here. Every image is a synthetic Pillow render
(no licence question): text to read, a colour to name, shapes to count, a chart to read. The manifest
holds each image's question and the keywords a right answer must contain; the simulator's knowledge file
(its "weights") maps each file's sha256 to what a good model would answer, so the two never drift apart.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

HERE = Path(__file__).resolve().parent
KNOWLEDGE = HERE.parent / "simulator" / "fake_model" / "knowledge.json"
WHITE, BLACK = (255, 255, 255), (0, 0, 0)
READ_WORD = "What word is written in large letters in this image? Answer with the word only."
DESCRIBE = "What is in this image?"
DESCRIBE_EACH = "Describe each image in one sentence."


@dataclass(frozen=True)
class Item:
    name: str
    file: str
    draw: Callable[[], Image.Image]
    question: str
    answer: str
    expected: list[list[str]]  # every group must match; any word of a group will do
    description: str
    describe_keywords: list[str]  # any of these in an answer to DESCRIBE
    tags: tuple[str, ...] = ()


def canvas(width: int = 448, height: int = 448) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), WHITE)
    return image, ImageDraw.Draw(image)


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def centred_word(word: str, width: int, height: int, size: int) -> Image.Image:
    image, draw = canvas(width, height)
    draw.text((width / 2, height / 2), word, fill=BLACK, font=font(size), anchor="mm")
    return image


def red_circle() -> Image.Image:
    image, draw = canvas()
    draw.ellipse((104, 104, 344, 344), fill=(220, 20, 20))
    return image


def three_squares() -> Image.Image:
    image, draw = canvas(672, 448)
    for left in (48, 264, 480):
        draw.rectangle((left, 144, left + 144, 288), fill=(30, 60, 220))
    return image


def bar_chart() -> Image.Image:
    image, draw = canvas(640, 480)
    draw.text((320, 30), "Fruit sold", fill=BLACK, font=font(32), anchor="mm")
    draw.line((60, 420, 600, 420), fill=BLACK, width=3)
    for index, (label, value) in enumerate((("apples", 3), ("pears", 7), ("plums", 5))):
        left = 100 + index * 170
        draw.rectangle((left, 420 - value * 45, left + 110, 420), fill=(40, 140, 60))
        draw.text((left + 55, 445), label, fill=BLACK, font=font(26), anchor="mm")
        draw.text((left + 55, 400 - value * 45), str(value), fill=BLACK, font=font(24), anchor="mm")
    return image


def tiny_green() -> Image.Image:
    return Image.new("RGB", (28, 28), (20, 170, 40))


SIGN_DESCRIPTION = "The image shows the word ATLAS written in large black letters on a white background."
ITEMS = (
    Item("red-circle", "red-circle.png", red_circle, "What colour is the circle? Answer with one word.", "Red.",
         [["red"]], "The image shows a single red circle on a plain white background.", ["red"], ("colour", "several")),
    Item("three-squares", "three-squares.png", three_squares,
         "How many blue squares are in this image? Answer with a number.", "3",
         [["3", "three"]], "The image shows three blue squares in a row on a white background.",
         ["square", "squares"], ("count", "several")),
    Item("bar-chart", "bar-chart.png", bar_chart,
         "Which fruit has the tallest bar in this chart? Answer with one word.", "Pears.",
         [["pears", "pear"]],
         "The image is a bar chart titled Fruit sold with three bars: apples 3, pears 7 and plums 5.",
         ["chart", "bar", "bars"], ("chart", "several")),
    Item("sign-png", "sign.png", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format", "several")),
    Item("sign-jpeg", "sign.jpeg", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format")),
    Item("sign-webp", "sign.webp", lambda: centred_word("ATLAS", 640, 320, 120), READ_WORD, "ATLAS",
         [["atlas"]], SIGN_DESCRIPTION, ["atlas"], ("text", "format")),
    Item("tiny-28px", "tiny-green.png", tiny_green, "What colour is this image? Answer with one word.", "Green.",
         [["green"]], "The image is a small plain green square.", ["green"], ("size",)),
    Item("large-2560px", "large-sign.png", lambda: centred_word("NPU", 2560, 1440, 520), READ_WORD, "NPU",
         [["npu"]], "The image shows the word NPU written in very large black letters on a white background.",
         ["npu"], ("size",)),
)

TEXT_PROMPTS = (
    {"name": "capital", "question": "What is the capital of France? Answer with one word.", "answer": "Paris.",
     "expected": [["paris"]]},
)
REMOTE_IMAGES = (
    {
        "name": "boardwalk",
        "url": "https://upload.wikimedia.org/wikipedia/commons/thumb/d/dd/Gfp-wisconsin-madison-the-nature-"
               "boardwalk.jpg/2560px-Gfp-wisconsin-madison-the-nature-boardwalk.jpg",
        "question": DESCRIBE,
        "expected": [["boardwalk", "walkway", "path", "trail", "wooden"]],
    },
)
GENERIC_MEDIA_ANSWER = "The picture is unclear to me; I cannot say what it shows."
GENERIC_TEXT_ANSWER = "I am not sure how to answer that; could you tell me more about what you need?"


def save(image: Image.Image, path: Path) -> None:
    options = {".jpeg": {"quality": 90}, ".webp": {"quality": 90, "method": 6}, ".png": {"optimize": True}}
    image.save(path, **options[path.suffix])


def main() -> None:
    manifest_items, knowledge_media = [], {}
    for item in ITEMS:
        path = HERE / item.file
        save(item.draw(), path)
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        with Image.open(path) as written:
            width, height, fmt = written.width, written.height, written.format.lower()
        manifest_items.append({
            "name": item.name, "file": item.file, "format": fmt, "width": width, "height": height,
            "sha256": sha, "question": item.question, "expected": item.expected,
            "describe_keywords": item.describe_keywords, "tags": list(item.tags),
        })
        knowledge_media[sha] = {"name": item.name, "description": item.description,
                                "answers": {item.question: item.answer}}
    manifest = {"images": manifest_items, "remote_images": list(REMOTE_IMAGES),
                "text_prompts": [{k: v for k, v in p.items() if k != "answer"} for p in TEXT_PROMPTS],
                "describe_question": DESCRIBE, "describe_each_question": DESCRIBE_EACH}
    knowledge = {"media": knowledge_media, "text": {p["question"]: p["answer"] for p in TEXT_PROMPTS},
                 "generic_media_answer": GENERIC_MEDIA_ANSWER, "generic_text_answer": GENERIC_TEXT_ANSWER}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    KNOWLEDGE.write_text(json.dumps(knowledge, indent=2) + "\n")
    print(f"wrote {len(ITEMS)} images, {HERE / 'manifest.json'} and {KNOWLEDGE}")


if __name__ == "__main__":
    main()
