"""The acceptance suite's pytest wiring: fixtures/run.py implements every hook (it is also the installed pytest11
plugin, under this name, so pytest registers it once); the other modules listed hold fixtures."""

pytest_plugins = ["fixtures.run", "fixtures.gates", "fixtures.serving"]
