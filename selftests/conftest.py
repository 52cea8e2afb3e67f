"""Self-tests of the suite: the repository root is importable, and e2e tests get a suite runner."""
from __future__ import annotations

import os
import sys
from pathlib import Path

# No self-test may reach a model hub: weights come from fake caches, downloads only from dead local mirrors.
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


import pytest  # noqa: E402

from phi4mm_acceptance.deployment.launch.ports import free_port  # noqa: E402


@pytest.fixture
def port() -> int:
    """A free local port per test, so suite runs never collide with each other or a leftover."""
    return free_port("127.0.0.1")
