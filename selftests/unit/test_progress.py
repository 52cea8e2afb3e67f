"""Progress lines of long steps: at most one every so often and one at the end, with how far and how long left."""
from __future__ import annotations

from phi4mm_acceptance.report.progress import Progress, duration, heartbeat


def test_a_line_every_ten_seconds_and_one_at_the_end_with_the_time_left() -> None:
    now, lines = [0.0], []
    steps = Progress("load text", 200, "requests", lines.append, clock=lambda: now[0])
    for done in range(1, 201):
        now[0] = done * 0.5  # one request answered every half second: 100 s in all
        steps.update(done)
    assert len(lines) == 10 and lines[0] == "load text: 20/200 requests (10%), 10 s, ~1 min 30 s left"
    assert lines[-1] == "load text: 200/200 requests (100%), 1 min 40 s"
    short: list[str] = []  # a step shorter than the interval still says it finished
    quick = Progress("load image", 3, "requests", short.append, clock=lambda: now[0])
    for done in range(1, 4):
        now[0] += 1
        quick.update(done)
    assert short == ["load image: 3/3 requests (100%), 3 s"]


def test_a_step_of_unknown_size_says_how_far_and_a_silent_tool_how_long() -> None:
    lines: list[str] = []
    Progress("images", None, "pictures", lines.append, every_s=0).update(7, "1200 MB resident")
    heartbeat("AISBench gsm8k", 3600, lines.append)(754)
    assert lines == ["images: 7 pictures, 0 s; 1200 MB resident",
                     "AISBench gsm8k: running for 12 min 34 s (limit 1 h 00 min)"]
    assert duration(7384) == "2 h 03 min"
