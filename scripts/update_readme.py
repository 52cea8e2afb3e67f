"""Regenerate the README's generated sections (options, simulator faults, detection matrix, vLLM releases) from
the code and data that define them.

`python scripts/update_readme.py` rewrites them in place; `--check` exits 1 when the README is stale.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from phi4mm_acceptance.deployment.settings import OPTIONS  # noqa: E402
from phi4mm_acceptance.protocol.releases import load_releases  # noqa: E402
from selftests.detection_matrix import markdown_table as detection_table  # noqa: E402
from simulator.faults import markdown_table  # noqa: E402

README = REPO / "README.md"


def options_table() -> str:
    rows = ["| option | environment variable | meaning |", "|---|---|---|"]
    rows += [f"| `{o.flag}` | `{o.env}` | {o.help} |" for o in OPTIONS]
    return "\n".join(rows)


SECTIONS = {"options": options_table, "faults": markdown_table, "detection": detection_table,
            "releases": lambda: load_releases().markdown_table()}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- generated:{name} -->\n).*?(\n<!-- /generated:{name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no generated:{name} section")
        text = pattern.sub(lambda m, make=make: m.group(1) + make() + m.group(2), text)
    return text


def main() -> int:
    current = README.read_text()
    fresh = render(current)
    if "--check" in sys.argv:
        if fresh != current:
            print("README.md is stale: run python scripts/update_readme.py")
            return 1
        return 0
    README.write_text(fresh)
    return 0


if __name__ == "__main__":
    sys.exit(main())
