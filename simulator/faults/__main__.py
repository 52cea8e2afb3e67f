"""`python -m simulator.faults`: the README's table of faults."""
from __future__ import annotations

from simulator.faults import markdown_table

print(markdown_table())
