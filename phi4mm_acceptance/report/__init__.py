"""What a run says of itself: its identity and metrics.json, the numeric gates, the release report."""
