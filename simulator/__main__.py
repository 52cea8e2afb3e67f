"""`python -m simulator serve MODEL ...` is the same as the `vllm` shim."""
from __future__ import annotations

import sys

from simulator.cli import main

sys.exit(main())
