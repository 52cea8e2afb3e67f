"""Bringing the deployment up: profiles and settings, launchers, pre-flight, weights, readiness, logs,
secrets, and what the server uses while it runs (accelerator telemetry, resident memory)."""
