"""Reading `npu-smi info`: health and HBM of each NPU, by `|`-separated fields, not fixed columns.

Two rows per NPU (an A3 adds a row per further chip; the first chip's figures are taken): `| id name | health | power temp hugepages |`, then `| chip | bus-id | aicore memory hbm |`.
`used / total` may lose its inner space when the numbers are wide (`59356/ 65536`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

HEALTHY = "OK"
_USED_TOTAL = re.compile(r"(\d+)\s*/\s*(\d+)")


@dataclass(frozen=True)
class NpuStatus:
    npu: int
    name: str
    health: str
    hbm_used_mb: int
    hbm_total_mb: int
    aicore_percent: int

    @property
    def hbm_free_mb(self) -> int:
        return self.hbm_total_mb - self.hbm_used_mb


def parse_npu_smi_info(text: str) -> dict[int, NpuStatus]:
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|") and line.count("|") >= 4]
    found: dict[int, NpuStatus] = {}
    for first, second in zip(rows, rows[1:]):
        head = first[0].split()
        if len(head) < 2 or not head[0].isdigit() or not first[1] or not second[0].isdigit():
            continue
        pairs, figures = _USED_TOTAL.findall(second[-1]), second[-1].split()
        if not pairs or not figures[0].isdigit():
            continue
        used, total = map(int, pairs[-1])
        found.setdefault(int(head[0]), NpuStatus(int(head[0]), head[1], first[1].split()[0], used, total,
                                                 int(figures[0])))
    return found
