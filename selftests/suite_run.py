"""Running the acceptance suite as a subprocess, the way a release engineer does, and reading its verdict."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import pytest

from phi4mm_acceptance.deployment.profile_files import load_profile

REPO = Path(__file__).resolve().parent.parent
# The simulator's default release, vLLM 0.11.0, has none of vLLM's media limits (0.24 and 0.29 brought them) and
# serves no audio part with a uuid (0.22 and 0.30 fixed them): a healthy simulator run skips these, as not applicable
SIM_LOADS = load_profile("sim").performance  # the simulator profile's loads
OLD_RELEASE_SKIPS = {f"test_odd_request_gets_vllms_answer_and_server_recovers[{case}]": "has no such limit"
                     for case in ("audio-over-size-limit", "audio-over-duration-limit",
                                  "image-over-download-limit")} | {
    "test_media_uuid_names_its_item[input_audio]": "answers 500 to an input_audio part with its data and a uuid",
    "test_media_uuid_names_its_item[audio_url]": "answers 500 to an audio_url part with no data naming the uuid"}


@dataclass(frozen=True)
class CaseResult:
    name: str
    outcome: str  # passed, failed, error, skipped
    message: str
    properties: dict[str, str]


@dataclass(frozen=True)
class SuiteRun:
    exit_code: int
    output: str
    junit: Path

    def cases(self) -> dict[str, CaseResult]:
        root = ElementTree.parse(self.junit).getroot()
        results = {}
        for case in root.iter("testcase"):
            outcome, message = "passed", ""
            for tag in ("failure", "error", "skipped"):
                node = case.find(tag)
                if node is not None:
                    outcome = {"failure": "failed"}.get(tag, tag)
                    message = f"{node.get('message', '')}\n{node.text or ''}"
                    break
            properties = {prop.get("name", ""): prop.get("value", "") for prop in case.iter("property")}
            results[case.get("name", "")] = CaseResult(case.get("name", ""), outcome, message, properties)
        return results

    def not_passed(self) -> dict[str, CaseResult]:
        return {name: case for name, case in self.cases().items() if case.outcome in ("failed", "error")}

    def suite_name(self) -> str:
        suite = ElementTree.parse(self.junit).getroot().find("testsuite")
        return suite.get("name", "") if suite is not None else ""

    def describe(self) -> str:
        return f"exit code {self.exit_code}; output tail:\n{self.output[-3000:]}"

    def assert_deployment_failed_once(self, words: str, kind: str) -> None:
        """A server that never came up is one failure, the deployment's case (naming the cause and its kind:
        this machine's setup problem, or the server broken), said once on the terminal; every test that needed
        the server is in the JUnit file, not run, and nothing else failed."""
        assert self.exit_code == 1, self.describe()
        cases = self.cases()
        failed = {name: case for name, case in cases.items() if case.outcome in ("failed", "error")}
        assert list(failed) == ["server_start"], (list(failed), self.describe())
        case = failed["server_start"]
        assert words in case.message and case.properties.get("failure_kind") == kind, (case.message, case.properties)
        not_run = [c for c in cases.values() if c.outcome == "skipped" and "the server never came up" in c.message]
        assert not_run and all("the one failure is deployment::server_start" in c.message for c in not_run)
        assert self.output.count(f"ERROR: {kind}: ") == 1, self.describe()
        assert f"verdict: FAILED: 1 {kind}; 0 passed, " in self.output, self.describe()


def run_suite(workdir: Path, *args: str, env: dict[str, str] | None = None, timeout_s: float = 240,
              reports: str = "reports", paths: tuple[str, ...] = (str(REPO / "tests"),)) -> SuiteRun:
    """`pytest` on the acceptance suite (its tests/, or the given paths), started in workdir so reports/ (or
    --reports-dir `reports`, which the caller passes too) and .phi4mm/ land there."""
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    full_env.pop("PYTEST_XDIST_WORKER", None)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO), *paths,
               "-p", "no:cacheprovider", *args]
    process = subprocess.Popen(command, cwd=workdir, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        output = stop_group(process)  # the suite stops its server on SIGTERM: a timed-out run leaves none behind
        pytest.fail(f"the suite ran past {timeout_s:.0f} s and was stopped; where it was (its progress lines "
                    f"are in this tail):\n{output[-6000:]}", pytrace=False)
    except BaseException:  # pytest-timeout or Ctrl-C ending the self-test: the run goes with it
        stop_group(process)
        raise
    return SuiteRun(process.returncode, stdout + stderr, workdir / reports / "junit.xml")


def sigint_as_a_terminal_sends_it() -> None:
    """preexec_fn of a run the test will Ctrl-C: SIGINT back to its default, which Python turns into
    KeyboardInterrupt. A shell's background job (`cmd &` without job control) ignores SIGINT and every child
    inherits that, so a self-test run that way would see a run shrug off Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_group(process: subprocess.Popen[str]) -> str:
    """SIGTERM to the run's process group (as an aborted Jenkins build sends it), SIGKILL after 30 s; what the
    run printed, start to end (when its output was captured)."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
    return (stdout or "") + (stderr or "")


def selected_tests(workdir: Path, *args: str) -> set[str]:
    """The test names a run with these arguments selects (pytest --collect-only), as the JUnit file names them."""
    workdir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               str(REPO / "tests"), "-p", "no:cacheprovider", "--collect-only", "-q", "--junitxml=", *args]
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=60,
                          env={k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"})
    return {line.rsplit("::", 1)[1] for line in done.stdout.splitlines() if "::" in line}


def assert_complete(run: SuiteRun, workdir: Path, *args: str) -> None:
    """The run's JUnit file reports every test these arguments select (and, beside them, only the run's own
    cases: a deployment that never came up, release gates left out)."""
    reported = set(run.cases()) - {"server_start", "every_gate_selected"}
    expected = selected_tests(workdir / "collect", *args)
    assert expected and reported == expected, (f"missing from junit.xml: {sorted(expected - reported)}, "
                                               f"not selected: {sorted(reported - expected)}")


@dataclass(frozen=True)
class LiveProcess:
    pid: int
    argv: list[bytes]

    @property
    def command_line(self) -> str:
        return b" ".join(self.argv).decode(errors="replace")

    def environ(self) -> dict[bytes, bytes]:
        """Its environment (empty once it has gone, or when it is not ours to read)."""
        try:
            entries = Path(f"/proc/{self.pid}/environ").read_bytes().split(b"\0")
        except OSError:
            return {}
        return dict(entry.split(b"=", 1) for entry in entries if b"=" in entry)


def live_processes() -> list[LiveProcess]:
    """Every live (not zombie) process on this host."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(LiveProcess(int(proc.name), argv))
    return found


def processes_on_port(port: int) -> list[str]:
    """Command lines of live processes that were started to serve on this port."""
    return [p.command_line for p in live_processes() if b"--port" in p.argv and str(port).encode() in p.argv]


def real_tool(path: Path) -> Path:
    """A real third-party tool the e2e tests drive (scripts/selftest installs it): skip without it, but fail in
    CI, where a missing tool must not turn its tests into silent skips."""
    if not path.is_file():
        message = f"needs the real tool at {path} (scripts/selftest installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def accept_baseline(out: Path, *runs: Path) -> Path:
    """phi4mm-accept-baseline --from these runs' metrics.json, as a release engineer accepts Jenkins' last healthy
    nightlies; the baseline file."""
    done = subprocess.run([str(Path(sys.executable).parent / "phi4mm-accept-baseline"), "--from", *map(str, runs),
                           "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return out


def healthy_baseline(workdir: Path, *args: str, runs: int = 2) -> tuple[Path, list[Path]]:
    """`runs` healthy runs with these arguments (judged against no baseline, as phi4mm-accept-baseline's own are),
    accepted into workdir/baseline.json; the baseline and the runs' metrics.json."""
    accepted = []
    for attempt in range(runs):
        run = run_suite(workdir / f"accepted-{attempt}", *args, "--baseline=none")
        assert run.exit_code == 0, run.describe()
        accepted.append(workdir / f"accepted-{attempt}" / "reports" / "metrics.json")
    return accept_baseline(workdir / "baseline.json", *accepted), accepted
