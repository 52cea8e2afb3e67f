"""Launchers: ways to get a running server (local process, simulator, external URL), one interface."""
