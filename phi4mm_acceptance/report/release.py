"""The release report a release owner reads in a minute: reports/report.html (and report.md for Jenkins) open
with the verdict and its counts by kind in words, then every failure with its kind, its one-line cause and
where to see more, then the numeric gates (metric, measured, budget, origin, verdict) and the plots with
their budget lines; the full test table comes last.
"""
from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from phi4mm_acceptance.deployment.profile import Profile
from phi4mm_acceptance.performance.budgets import budgets_from_profile
from phi4mm_acceptance.report.gates import gate_rows
from phi4mm_acceptance.report.run import ARTIFACTS, RunIdentity
from phi4mm_acceptance.verdicts import CUT_SHORT, GATE_NOT_RUN, KINDS, NOT_REACHED, SERVING_BROKEN

EXCEPTION_PREFIX = re.compile(r"^[\w.]+\.(?:WrongAnswer|TooSlow|AssertionError): |^AssertionError: ")
GATE_STATE = {"passed": "pass", "failed": "fail", "error": "fail", "skipped": "not run", "deselected": "not run"}


def gate_state(entry: dict[str, Any]) -> str:
    """pass, fail, interrupted or not run; a gate release sign-off needed and did not run is "not run" (and
    fails the run), as is a test an interrupted run never reached."""
    kind = entry["figures"].get("failure_kind")
    if kind in (GATE_NOT_RUN, NOT_REACHED):
        return "not run"
    if kind == CUT_SHORT:
        return CUT_SHORT
    return GATE_STATE.get(entry["outcome"], entry["outcome"])


def state_text(entry: dict[str, Any]) -> str:
    """The state with a failure's kind: "fail (too slow)", "fail (answers wrong: the serving stack: ...)"."""
    state, figures = gate_state(entry), entry["figures"]
    if state != "fail":
        return state
    kind = figures.get("failure_kind", SERVING_BROKEN)
    return f"fail ({kind}{': likely cause ' + figures['likely_cause'] if 'likely_cause' in figures else ''})"


def failures_by_kind(tests: dict[str, dict[str, Any]]) -> dict[str, int]:
    """What failed, by kind: the gates release sign-off needed and did not run among them."""
    kinds = [e["figures"].get("failure_kind", SERVING_BROKEN) for e in tests.values()
             if gate_state(e) == "fail" or e["figures"].get("failure_kind") == GATE_NOT_RUN]
    return {kind: kinds.count(kind) for kind in KINDS if kind in kinds}


def pyplot() -> ModuleType:
    """matplotlib's pyplot on its file-only backend, loaded with the first plot: it costs half a second, and
    most runs (smoke, accuracy) draw none."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def latency_plot(name: str, perf: dict[str, Any], out: Path, budgets: dict[str, float] | None = None) -> Path:
    """TTFT and ITL histograms with their p50 and p99, and the profile's p99 budget as a line."""
    plt = pyplot()
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((axes[0], "ttfts", "time to first token (ms)"), (axes[1], "itls", "inter-token latency (ms)")):
        values = [v * 1000 for v in perf.get(key, [])]
        ax.hist(values, bins=40, color="#0969da")
        for p, style in ((50, "-"), (99, "--")):
            marker = perf.get(f"p{p}_{key[:-1]}_ms")
            if isinstance(marker, (int, float)):
                ax.axvline(marker, color="#1a7f37", linestyle=style, label=f"p{p} {marker:.1f} ms")
        budget = (budgets or {}).get(f"max_p99_{key[:-1]}_ms")
        if budget is not None:
            ax.axvline(budget, color="#cf222e", linewidth=2, label=f"budget p99 <= {budget:g} ms")
        ax.set_xlabel(label)
        ax.set_ylabel("requests" if key == "ttfts" else "tokens")
        ax.legend()
    figure.suptitle(f"load '{name}': {perf.get('completed', 0)} requests")
    figure.tight_layout()
    path = out / f"latency-{name}.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def throughput_plot(perfs: dict[str, dict[str, Any]], out: Path, budgets: dict[str, dict[str, float]]) -> Path:
    """Each load's output throughput, with its floor (ratio x baseline) as a red tick where the profile has one."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 3.2))
    names = list(perfs)
    ax.bar(names, [perfs[n].get("output_throughput", 0) for n in names], color="#0969da")
    for number, name in enumerate(names):
        floors = [b.limit for b in budgets_from_profile(budgets.get(name, {}), "") if not b.ceiling]
        if floors:
            ax.hlines(floors[0], number - 0.4, number + 0.4, color="#cf222e", linewidth=2,
                      label="budget: ratio x baseline" if number == 0 or not ax.get_legend_handles_labels()[0] else None)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    ax.set_ylabel("output tokens / s")
    ax.set_title("output throughput per load")
    figure.tight_layout()
    path = out / "throughput.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def memory_plot(samples_mb: list[float], warm_up: int, max_growth_mb: float, out: Path) -> Path:
    """The memory soak: the server's resident memory after each distinct image; the warm-up, where it is meant
    to rise (vLLM's multimodal cache fills); and the bound over the images the gate judges, after it."""
    out.mkdir(parents=True, exist_ok=True)
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(8, 3.4))
    judged = len(samples_mb) - warm_up
    ax.plot(range(1, len(samples_mb) + 1), samples_mb, color="#0969da")
    ax.axvspan(0, warm_up, color="#9a6700", alpha=0.08, label=f"warm-up ({warm_up} images, cache filling)")
    ax.hlines(samples_mb[warm_up - 1] + max_growth_mb, warm_up, len(samples_mb), color="#cf222e", linestyle="--",
              label=f"bound: +{max_growth_mb:g} MB")
    ax.set_title(f"memory soak: growth over {judged} images after the warm-up", fontsize=10)
    ax.set_xlabel(f"distinct images sent (the gate judges images {warm_up + 1}-{len(samples_mb)})")
    ax.set_ylabel("resident memory (MB)")
    ax.legend(loc="lower right")
    figure.tight_layout()
    path = out / "memory-soak.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def clear_previous_report(reports: Path) -> None:
    """A new run must not show an earlier run's loads: remove what this module and the loads wrote."""
    for path in [*reports.glob("perf-*.json"), *reports.glob("plots/*.png"), *reports.glob("samples/*.json"),
                 reports / "report.html", reports / "report.md"]:
        path.unlink(missing_ok=True)


@dataclass(frozen=True)
class Section:
    """One part of the report, rendered alike to report.html and report.md."""

    title: str
    lines: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    rows: tuple[tuple[str, ...], ...] = ()
    images: tuple[Path, ...] = ()


def verdict_words(verdict: str, tests: dict[str, dict[str, Any]]) -> str:
    """The verdict and its counts in words: what failed, by kind (the gates release sign-off needed and did not
    run among them), then what passed, was cut short by an interrupt, or was not run."""
    failed = ", ".join(f"{count} {kind}" for kind, count in failures_by_kind(tests).items()) or "no failure"
    states = [gate_state(e) for e in tests.values() if e["figures"].get("failure_kind") != GATE_NOT_RUN]
    others = "".join(f", {states.count(state)} {state}" for state in (CUT_SHORT, "not run") if state in states)
    return f"{verdict.upper()}: {failed}; {states.count('pass')} passed{others} of {len(tests)} tests"


def where_to_look(test: str, entry: dict[str, Any]) -> str:
    """The way to more than one line: the JUnit case, and what the test said it wrote (its artifacts)."""
    written = str(entry["figures"].get(ARTIFACTS, ""))
    return "; ".join([f"junit.xml case {test.split('::')[-1]}", *filter(None, written.split("; ")), "server.log"])


def failure_rows(tests: dict[str, dict[str, Any]]) -> tuple[tuple[str, ...], ...]:
    rows = []
    for test, entry in tests.items():
        kind = entry["figures"].get("failure_kind", SERVING_BROKEN)
        if gate_state(entry) != "fail" and kind != GATE_NOT_RUN:  # a skip, or a test an interrupt cut short
            continue
        cause = EXCEPTION_PREFIX.sub("", entry.get("reason", ""))
        if entry["figures"].get("likely_cause"):
            cause = f"likely cause {entry['figures']['likely_cause']}: {cause}"
        rows.append((test.split("::")[-1], kind, cause[:300], where_to_look(test, entry)))
    order = {kind: number for number, kind in enumerate(KINDS)}
    return tuple(sorted(rows, key=lambda row: order.get(row[1], len(order))))


def report_sections(identity: RunIdentity, profile: Profile | None, tests: dict[str, dict[str, Any]], verdict: str,
                    images: list[Path]) -> list[Section]:
    """Verdict first, then the failures, then the gates' numbers and plots, the full table last."""
    failures = failure_rows(tests)
    gates = gate_rows(profile, tests) if profile else []
    return [
        Section("verdict", (verdict_words(verdict, tests), *identity.summary_lines())),
        Section(f"failures ({len(failures)})", () if failures else ("none",), ("test", "kind", "cause", "see"),
                failures),
        Section("gates", () if gates else ("no numeric gate ran",), ("gate", "metric", "measured", "budget", "origin",
                                                                      "verdict"),
                tuple((g.gate, g.metric, g.measured, g.budget, g.origin, g.verdict) for g in gates)),
        Section("plots", () if images else ("no plot: no load or soak ran",), images=tuple(images)),
        Section("every test", (), ("test", "state", "why", "figures"),
                tuple((t, state_text(e), e.get("reason", ""), _figures(e["figures"])) for t, e in tests.items())),
    ]


def _html(title: str, sections: list[Section]) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>"
             "body{font-family:sans-serif;margin:2em;max-width:1400px}td,th{padding:3px 8px;text-align:left;"
             "border-bottom:1px solid #ddd;font-size:13px;vertical-align:top}.verdict{font-size:20px;font-weight:bold}"
             ".fail{color:#cf222e}.pass{color:#1a7f37}.notrun{color:#9a6700}img{max-width:48%;margin:4px}"
             f"</style></head><body><h1>{html.escape(title)}</h1>"]
    for number, section in enumerate(sections):
        parts.append(f"<h2 id='{section.title.split(' ')[0]}'>{html.escape(section.title)}</h2>")
        for index, line in enumerate(section.lines):
            style = " class='verdict'" if number == 0 and index == 0 else ""
            parts.append(f"<p{style}>{html.escape(line)}</p>")
        if section.rows:
            parts.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in section.headers) + "</tr>")
            for row in section.rows:
                parts.append("<tr>" + "".join(f"<td{_state_class(cell)}>{html.escape(cell)}</td>" for cell in row)
                             + "</tr>")
            parts.append("</table>")
        parts += [f"<img src='plots/{image.name}' alt='{image.stem}'>" for image in section.images]
    return "".join(parts) + "</body></html>"


def _state_class(cell: str) -> str:
    word = cell.split(" ")[0] if cell else ""
    return {"fail": " class='fail'", "pass": " class='pass'", "not": " class='notrun'"}.get(word, "")


def _markdown(title: str, sections: list[Section]) -> str:
    lines = [f"# {title}", ""]
    for number, section in enumerate(sections):
        lines += [f"## {section.title}", ""]
        lines += [f"**{line}**" if number == 0 and index == 0 else f"- {line}" if number == 0 else line
                  for index, line in enumerate(section.lines)]
        if section.rows:
            lines += ["", "| " + " | ".join(section.headers) + " |", "|" + "---|" * len(section.headers)]
            lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in section.rows]
        lines += [f"![{image.stem}](plots/{image.name})" for image in section.images]
        lines.append("")
    return "\n".join(lines)


def write_release_report(reports: Path, identity: RunIdentity, tests: dict[str, dict[str, Any]],
                         verdict: str, profile: Profile | None = None) -> Path:
    plots = reports / "plots"
    perfs = {p.stem.removeprefix("perf-"): json.loads(p.read_text()) for p in sorted(reports.glob("perf-*.json"))}
    budgets = {load.name: load.budgets for load in profile.performance} if profile else {}
    images = []
    if perfs:
        plots.mkdir(parents=True, exist_ok=True)
        images = [latency_plot(name, perf, plots, budgets.get(name, {})) for name, perf in perfs.items()]
        images.append(throughput_plot(perfs, plots, budgets))
    images += [plot for plot in sorted(plots.glob("*.png")) if plot not in images]  # the memory soak's, say
    sections = report_sections(identity, profile, tests, verdict, images)
    (reports / "report.html").write_text(_html(identity.suite_name, sections))
    (reports / "report.md").write_text(_markdown(identity.suite_name, sections))
    return reports / "report.html"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in list(figures.items())[:8])
