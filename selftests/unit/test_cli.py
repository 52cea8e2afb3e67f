"""pytest's argument trap: the suite's options given their value after a space are joined to it before pytest
takes an existing path for a test path."""
from __future__ import annotations

from fixtures.command_line import joined


def test_an_option_given_a_path_after_a_space_is_joined_to_it() -> None:
    args = ["-m", "nightly", "--compare-to", "/data/nightly/metrics.json", "--target", "sim", "--network", "tests"]
    assert joined(args, misleads=lambda value: value.startswith("/")) == [
        "-m", "nightly", "--compare-to=/data/nightly/metrics.json", "--target=sim", "--network", "tests"]


def test_a_command_line_no_value_of_which_can_mislead_pytest_is_left_as_it_is() -> None:
    assert joined(["-m", "smoke", "--target", "sim", "--compare-to=/data/m.json"], misleads=lambda value: False) is None
    assert joined(["--target=sim", "-k", "--profile"], misleads=lambda value: True) is None  # -k's value is pytest's


def test_nothing_after_a_double_dash_is_touched() -> None:
    assert joined(["--baseline", "b.json", "--", "--target", "x"], misleads=lambda value: True) == [
        "--baseline=b.json", "--", "--target", "x"]
