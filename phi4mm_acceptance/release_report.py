"""The release report a person would rather look at than read: reports/report.html (and report.md) with
the run's identity and verdict, every gate as pass / fail / not run with the reason, and plots of latency
distributions and throughput.
"""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from phi4mm_acceptance.report import RunIdentity  # noqa: E402
from phi4mm_acceptance.verdicts import GATE_NOT_RUN, KINDS  # noqa: E402

OUTCOME_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "not run": "#9a6700"}
GATE_STATE = {"passed": "pass", "failed": "fail", "error": "fail", "skipped": "not run", "deselected": "not run"}


def gate_state(entry: dict[str, Any]) -> str:
    """pass, fail or not run; a gate release sign-off needed and did not run is "not run" (and fails the run)."""
    if entry["figures"].get("failure_kind") == GATE_NOT_RUN:
        return "not run"
    return GATE_STATE.get(entry["outcome"], entry["outcome"])


def state_text(entry: dict[str, Any]) -> str:
    """The state with a failure's kind: "fail (too slow)", "fail (answers wrong: the serving stack: ...)"."""
    state, figures = gate_state(entry), entry["figures"]
    if state != "fail":
        return state
    kind = figures.get("failure_kind", "serving broken")
    return f"fail ({kind}{': likely cause ' + figures['likely_cause'] if 'likely_cause' in figures else ''})"


def failures_by_kind(tests: dict[str, dict[str, Any]]) -> dict[str, int]:
    kinds = [e["figures"].get("failure_kind", "serving broken") for e in tests.values() if gate_state(e) == "fail"]
    return {kind: kinds.count(kind) for kind in KINDS if kind in kinds and kind != GATE_NOT_RUN}


def latency_plot(name: str, perf: dict[str, Any], out: Path) -> Path:
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for ax, key, label in ((axes[0], "ttfts", "time to first token (ms)"), (axes[1], "itls", "inter-token latency (ms)")):
        values = [v * 1000 for v in perf.get(key, [])]
        ax.hist(values, bins=40, color="#0969da")
        for p, style in ((50, "-"), (99, "--")):
            marker = perf.get(f"p{p}_{key[:-1]}_ms")
            if isinstance(marker, (int, float)):
                ax.axvline(marker, color="#cf222e", linestyle=style, label=f"p{p} {marker:.1f} ms")
        ax.set_xlabel(label)
        ax.set_ylabel("requests" if key == "ttfts" else "tokens")
        ax.legend()
    figure.suptitle(f"load '{name}': {perf.get('completed', 0)} requests")
    figure.tight_layout()
    path = out / f"latency-{name}.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def throughput_plot(perfs: dict[str, dict[str, Any]], out: Path) -> Path:
    figure, ax = plt.subplots(figsize=(6, 3.2))
    names = list(perfs)
    ax.bar(names, [perfs[n].get("output_throughput", 0) for n in names], color="#0969da")
    ax.set_ylabel("output tokens / s")
    ax.set_title("output throughput per load")
    figure.tight_layout()
    path = out / "throughput.png"
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def memory_plot(samples_mb: list[float], warm_up: int, max_growth_mb: float, out: Path) -> Path:
    """The memory soak: the server's resident memory after each distinct image, the warm-up and the bound."""
    out.mkdir(parents=True, exist_ok=True)
    figure, ax = plt.subplots(figsize=(8, 3.4))
    ax.plot(range(1, len(samples_mb) + 1), samples_mb, color="#0969da")
    ax.axvline(warm_up, color="#9a6700", linestyle=":", label="end of warm-up")
    ax.axhline(samples_mb[warm_up - 1] + max_growth_mb, color="#cf222e", linestyle="--", label="bound")
    ax.set_xlabel("distinct images sent")
    ax.set_ylabel("resident memory (MB)")
    ax.legend()
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


def write_release_report(reports: Path, identity: RunIdentity, tests: dict[str, dict[str, Any]],
                         verdict: str) -> Path:
    plots = reports / "plots"
    perfs = {p.stem.removeprefix("perf-"): json.loads(p.read_text()) for p in sorted(reports.glob("perf-*.json"))}
    images = []
    if perfs:
        plots.mkdir(parents=True, exist_ok=True)
        images = [latency_plot(name, perf, plots) for name, perf in perfs.items()] + [throughput_plot(perfs, plots)]
    images += [plot for plot in sorted(plots.glob("*.png")) if plot not in images]  # the memory soak's, say
    rows = "".join(
        f"<tr><td>{html.escape(test)}</td><td style='color:{OUTCOME_COLOURS.get(gate_state(e), '#000')}'>"
        f"{html.escape(state_text(e))}</td><td>{html.escape(e.get('reason', ''))}</td>"
        f"<td>{html.escape(_figures(e['figures']))}</td></tr>"
        for test, e in tests.items())
    counts = {state: sum(gate_state(e) == state for e in tests.values()) for state in OUTCOME_COLOURS}
    identity_lines = "".join(f"<li>{html.escape(line)}</li>" for line in identity.summary_lines())
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(identity.suite_name)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}td{padding:2px 8px;border-bottom:1px solid #ddd;"
            "font-size:13px}</style></head><body>"
            f"<h1>{html.escape(identity.suite_name)}</h1><ul>{identity_lines}</ul>"
            f"<h2>verdict: {html.escape(verdict.upper())}</h2><p>{counts}; failures by kind: "
            f"{html.escape(str(failures_by_kind(tests)))}</p>"
            + "".join(f"<img src='plots/{p.name}' alt='{p.stem}'>" for p in images)
            + f"<table><tr><th>gate</th><th>state</th><th>why</th><th>figures</th></tr>{rows}</table>"
            "</body></html>")
    (reports / "report.html").write_text(page)
    markdown = [f"# {identity.suite_name}", "", *[f"- {line}" for line in identity.summary_lines()], "",
                f"**verdict: {verdict.upper()}** {counts}; failures by kind: {failures_by_kind(tests)}", "", *[f"![{p.stem}](plots/{p.name})" for p in images],
                "", "| gate | state | why | figures |", "|---|---|---|---|",
                *[f"| {t} | {state_text(e)} | {_cell(e.get('reason', ''))} | {_figures(e['figures'])} |"
                  for t, e in tests.items()]]
    (reports / "report.md").write_text("\n".join(markdown) + "\n")
    return reports / "report.html"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _figures(figures: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in list(figures.items())[:8])
