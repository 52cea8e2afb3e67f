"""phi4mm-acceptance: the library behind the acceptance suite (no pytest imports here)."""
