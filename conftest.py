"""The acceptance suite's pytest wiring: every fixture and hook lives in fixtures/, one module per resource."""

pytest_plugins = ["fixtures.cli", "fixtures.options", "fixtures.selection", "fixtures.progress", "fixtures.deployment",
                  "fixtures.client", "fixtures.reporting", "fixtures.performance", "fixtures.accuracy",
                  "fixtures.timeouts"]  # each before the ones importing it, so pytest rewrites its asserts (no
# PytestAssertRewriteWarning); fixtures.cli is also an installed plugin (pyproject's pytest11), under this name
