"""Turn ``bench/results/*.json`` into the table and the plot of docs/performance.md.

``python -m bench.report`` prints the Markdown table (ours / baseline per figure) and writes
``docs/performance-scale.png``: steady-state SageMaker calls per minute and status lag p50/p99
against N, for both designs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "performance-scale.png"


def load() -> dict[tuple[int, str], dict[str, Any]]:
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        result = json.loads(path.read_text())
        if "design" not in result:
            continue  # bench.steady_state's results share the folder
        if (
            result.get("faults")
            or result.get("aws_buckets")
            or _get(result, "config", "extra_settings")
        ):
            continue  # fault runs and tuning experiments are reported apart
        found[result["n"], result["design"]] = result
    return found


def _get(result: dict[str, Any] | None, *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _step(status: str) -> tuple[str, ...]:
    return ("jobs", "status_lag_by_step", status)


ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("steady SageMaker calls/min, 90 s window", ("steady", "total_per_minute")),
    ("  of which full-sweep pages in the window", ("steady", "full_sweep_pages")),
    ("  steady calls/min without the sweep", ("steady", "per_minute_without_sweeps")),
    ("DescribeTrainingJob per job (whole run)", ("describes_per_job",)),
    ("SageMaker calls per job (whole run)", ("calls_per_job",)),
    ("time to all created (s)", ("jobs", "time_to_all_created")),
    ("creation throughput (jobs/s)", ("jobs", "creation_per_second")),
    ("create latency p50, p99 (s)", ("jobs", "create_latency")),
    ("status lag p50 (s)", ("jobs", "status_lag", "p50")),
    ("status lag p99 (s)", ("jobs", "status_lag", "p99")),
    ("status lag max (s)", ("jobs", "status_lag", "max")),
    ("lag p50, p99 (s): Training (in the creation burst)", _step("Training")),
    ("lag p50, p99 (s): Completed (after the restart)", _step("Completed")),
    ("lag p50, p99 (s): Stopping (deletions)", _step("Stopping")),
    ("poller cycles in the creation burst: count, mean s", ("poller_cycles_creation",)),
    ("transitions never shown", ("jobs", "transitions_never_shown")),
    ("Kubernetes requests per job", ("kube_requests", "per_job")),
    ("Kubernetes requests/min, steady", ("kube_requests", "steady_per_minute")),
    ("operator CPU seconds (whole run)", ("operator", "cpu_seconds")),
    ("operator peak RSS (MiB)", ("operator", "peak_rss_mib")),
    ("restart: seconds to caught up", ("restart", "caught_up_seconds")),
    ("restart: Describes until caught up", ("restart", "calls_until_caught_up")),
    ("restart: SageMaker calls in first 60 s", ("restart", "calls_first_window", "total")),
    ("lost, duplicated, orphan jobs", ("jobs",)),
]


def _cell(result: dict[str, Any] | None, path: tuple[str, ...]) -> str:
    value = _get(result, *path)
    if result is None or value is None:
        return "-"
    if path == ("jobs",):
        return f"{value['lost']}, {value['duplicated']}, {value['orphans']}"
    if path[-1] == "create_latency" or path[-2:-1] == ("status_lag_by_step",):
        return f"{value.get('p50', '-')}, {value.get('p99', '-')}"
    if path == ("poller_cycles_creation",):
        return f"{value['cycles']}, {value.get('mean_seconds', '-')}" if value["cycles"] else "-"
    if path[-1] == "calls_until_caught_up":
        return str(value["by_operation"].get("DescribeTrainingJob", 0))
    return str(value)


def table(results: dict[tuple[int, str], dict[str, Any]]) -> str:
    sizes = sorted({n for n, _ in results})
    head = "| figure | " + " | ".join(f"N = {n:,}: ours / baseline" for n in sizes) + " |"
    lines = [head, "|---" * (len(sizes) + 1) + "|"]
    for label, path in ROWS:
        cells = [
            f"{_cell(results.get((n, 'ours')), path)} / {_cell(results.get((n, 'baseline')), path)}"
            for n in sizes
        ]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _steady_per_minute(result: dict[str, Any]) -> float:
    """Calls/min of the steady window, less a full sweep's pages when one fell inside it."""
    value = _get(result, "steady", "per_minute_without_sweeps")
    if value is None:
        value = _get(result, "steady", "total_per_minute")
    return float(value or 0)


def plot(results: dict[tuple[int, str], dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (calls, lag) = plt.subplots(1, 2, figsize=(11, 4.2))
    for design, colour in (("ours", "tab:blue"), ("baseline", "tab:red")):
        sizes = sorted(n for n, d in results if d == design)
        if not sizes:
            continue
        per_min = [_steady_per_minute(results[n, design]) for n in sizes]
        p50 = [_get(results[n, design], "jobs", "status_lag", "p50") or 0 for n in sizes]
        p99 = [_get(results[n, design], "jobs", "status_lag", "p99") or 0 for n in sizes]
        calls.plot(sizes, per_min, "o-", color=colour, label=design)
        lag.plot(sizes, p50, "o-", color=colour, label=f"{design} p50")
        lag.plot(sizes, p99, "s--", color=colour, label=f"{design} p99")
    calls.axhline(
        600, color="grey", linestyle=":", label="DescribeTrainingJob limit (10/s, assumed)"
    )
    calls.set(
        xlabel="TrainingJobs (N)",
        ylabel="SageMaker calls per minute",
        title="Steady state: every job training (full sweep apart)",
        yscale="log",
    )
    calls.set_ylim(bottom=1)
    lag.set(
        xlabel="TrainingJobs (N)",
        ylabel="seconds",
        title="Status lag: SageMaker change -> resource status",
    )
    for axes in (calls, lag):
        axes.legend(fontsize=8)
        axes.grid(alpha=0.3)
    fig.suptitle("sagemaker-operator vs per-resource 30 s Describe (2 cores, 24 GiB, one machine)")
    fig.tight_layout()
    fig.savefig(PLOT, dpi=110)


def faults() -> str:
    """One line per fault run: what was injected, and whether every job survived."""
    lines = []
    for path in sorted(RESULTS.glob("faults-*.json")):
        r = json.loads(path.read_text())
        jobs, calls = r["jobs"], r["calls_total"]
        lines.append(
            f"- N = {r['n']} ({r['design']}): {jobs['jobs_in_sagemaker']} jobs for "
            f"{jobs['resources']} resources; lost {jobs['lost']}, duplicated "
            f"{jobs['duplicated']}, orphans {jobs['orphans']}, deleted but not stopped "
            f"{jobs['deleted_not_stopped']}; SageMaker answered {calls['by_outcome']}; "
            f"API-server restart: first status written {r.get('apiserver_recovery_seconds')} s "
            f"after the restart began, all created at {jobs['time_to_all_created']} s; "
            f"status lag p50 {jobs['status_lag'].get('p50')} s, p99 "
            f"{jobs['status_lag'].get('p99')} s, max {jobs['status_lag'].get('max')} s "
            f"(outside the API-server outage: p99 "
            f"{jobs.get('status_lag_outside_apiserver_outage', {}).get('p99')} s, "
            f"{jobs.get('transitions_spanning_apiserver_outage')} transitions spanned it); "
            f"transitions never shown {jobs['transitions_never_shown']}; restart resumed with "
            f"{r['restart']['calls_until_caught_up']['by_operation']}."
        )
    return "\n".join(lines)


def main() -> None:
    results = load()
    print(table(results))
    print()
    print(faults())
    plot(results)
    print(f"\nwrote {PLOT}")


if __name__ == "__main__":
    main()
