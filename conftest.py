"""The acceptance suite's pytest wiring: every fixture and hook lives in fixtures/, one module per resource."""

pytest_plugins = ["fixtures.options", "fixtures.deployment", "fixtures.client", "fixtures.reporting", "fixtures.selection",
                  "fixtures.performance", "fixtures.accuracy", "fixtures.timeouts"]
