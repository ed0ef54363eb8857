"""Scale and fault benchmark: N TrainingJobs through the operator and through the baseline.

For each N and each design (``ours``: the operator as shipped; ``baseline``: the same
operator observing with a Describe per resource every 30 s, :mod:`bench.baseline_operator`)
one run starts a fresh control plane (etcd + kube-apiserver with an audit log of the
operator's user), the emulator and the operator, each its own process, and then:

1. creates N TrainingJobs from 8 threads of the Python client (the apply is not measured);
2. waits until every job exists in SageMaker and shows ``Training``;
3. deletes a share of them while they train (Stop, wait for Stopped, release);
4. measures a steady window: every remaining job training, nothing changing;
5. kills the operator (SIGKILL) and starts it again: time and SageMaker calls to resume;
6. tells the emulator to end every job's Training phase, in creation order, spread over as
   long as creation took (so changes arrive at the rate jobs were created), and waits for
   every remaining job to finish (``Uploading`` -> ``Completed``);
7. checks from the emulator's journal that every resource has exactly one job (its uid
   tag), and no job lacks a resource.

Status lag is measured against SageMaker's own timeline (each job's transition times, from
the emulator's journal) and the arrival times of the bench's Kubernetes watch. Results go
to ``bench/results/<label>.json``; :mod:`bench.report` turns them into docs/performance.md's
table and plot.

``python -m bench.scale --n 1000 --n 5000 [--design ours --design baseline] [--faults]``
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from bench import stack
from bench.watch import StatusWatch
from sagemaker_operator import names
from sagemaker_operator.config import Settings
from sagemaker_operator.devstack import manifests
from sagemaker_operator.emulator import lifecycle, store
from sagemaker_operator.sagemaker import budget

RESULTS = Path(__file__).resolve().parent / "results"
NAMESPACE = "bench"
MODULES = {"ours": "sagemaker_operator.cli", "baseline": "bench.baseline_operator"}
TERMINAL = {"Completed", "Failed", "Stopped"}
_SHIPPED = Settings.model_fields
SETTLE_SECONDS = float(
    _SHIPPED["clock_skew_seconds"].default + 2 * _SHIPPED["poll_interval_seconds"].default
)


@dataclass(frozen=True)
class RunConfig:
    n: int
    design: str
    workdir: Path
    time_scale: float = 0.1  # Starting 6 s, Downloading 3 s, Uploading 1.5 s, Stopping 2 s
    # Jobs train "for a day" until step 6 ends their training: a Training phase sized in
    # advance from an assumed creation rate ran out mid-run at N = 10,000 on a loaded
    # machine, and jobs completed inside the steady window.
    train_seconds: float = 86400.0
    # Seconds over which training ends; 0: as long as creation took, and with AWS-like limits
    # no faster than AWS's CreateTrainingJob rate could have started them (N / 2 s): jobs
    # cannot end faster, over a run, than the account can create them.
    finish_spread: float = 0.0
    history: int = 0  # finished jobs seeded in the emulator before the run (an account's past)
    stop_after_restart: bool = False  # end once the restart is measured (no finish phase)
    delete_share: float = 0.1
    steady_seconds: float = 90.0
    restart_window: float = 60.0
    faults: bool = False
    # AWS-like buckets in the emulator and the operator's shipped per-operation budgets, with
    # no other fault (only CreateTrainingJob raised in both, so N jobs exist in minutes).
    aws_buckets: bool = False
    calls_per_second: float = 200.0
    call_burst: int = 200
    # Further operator settings (SAGEMAKER_OPERATOR_<KEY>), for experiments; the label says so.
    extra_settings: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        tuned = "".join(f"-{key}={value}" for key, value in self.extra_settings)
        kind = "faults-" if self.faults else "buckets-" if self.aws_buckets else ""
        past = f"-history{self.history}" if self.history else ""
        return f"{kind}{self.n}-{self.design}{past}{tuned}"


FAULT_CREATE_RATE = "20/20"
# --aws-buckets raises what creating N resources needs (the creates and their look-ups), in
# the emulator and the operator alike; ListTrainingJobs, what a restart depends on, stays 2/s.
SETUP_RATES = ("CreateTrainingJob=20/20", "DescribeTrainingJob=50/100")


def fault_rates(cfg: RunConfig) -> tuple[str, ...]:
    """The buckets a fault run raises above AWS's, in the emulator and the operator alike."""
    return SETUP_RATES if cfg.aws_buckets else (f"CreateTrainingJob={FAULT_CREATE_RATE}",)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def manifest(index: int, cfg: RunConfig) -> dict[str, Any]:
    return manifests.manifest(
        f"job-{index:05d}",
        fate={"duration-seconds": str(round(cfg.train_seconds / cfg.time_scale))},
        stoppingCondition={"maxRuntimeInSeconds": 2419200},
    )


def wait_for(check: Any, timeout: float, what: str, every: float = 1.0) -> float:
    """Poll ``check`` (state held by the watch thread) until true; returns seconds waited."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            log(f"TIMEOUT after {timeout:.0f}s waiting for {what}")
            return float("nan")
        time.sleep(every)
    return time.monotonic() - started


def diff(after: dict[str, dict[str, int]], before: dict[str, dict[str, int]]) -> dict[str, Any]:
    """Calls between two counter snapshots: by operation (all outcomes) and throttles."""
    by_op: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for op, found in after.items():
        for outcome, count in found.items():
            delta = count - before.get(op, {}).get(outcome, 0)
            if delta:
                by_op[op] += delta
                outcomes[outcome] += delta
    return {"by_operation": dict(by_op), "by_outcome": dict(outcomes), "total": sum(by_op.values())}


def create_all(api: k8s.ApiClient, cfg: RunConfig) -> dict[str, float]:
    objects = k8s.CustomObjectsApi(api)
    applied: dict[str, float] = {}

    def create(index: int) -> None:
        body = manifest(index, cfg)
        for _attempt in range(60):
            try:
                objects.create_namespaced_custom_object(
                    names.GROUP, names.VERSION, NAMESPACE, names.PLURAL, body
                )
                break
            except ApiException as error:
                if error.status == 409:
                    break
                time.sleep(1.0)  # the API server is briefly unavailable: try again
        applied[body["metadata"]["name"]] = time.time()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(cfg.n)))
    return applied


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {
        "n": len(ordered),
        "p50": round(at(0.5), 2),
        "p99": round(at(0.99), 2),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def analyse_jobs(
    cfg: RunConfig,
    watch: StatusWatch,
    applied: dict[str, float],
    deleted: set[str],
    end: float,
    outage: tuple[float, float] | None = None,
    origin: float = 0.0,
) -> dict[str, Any]:
    """Creation, status lag and exactly-once, from the emulator's journal and the watch.

    ``outage``: (stopped, first status written after) of the API-server restart; the lag of
    the transitions whose wait spans it is reported apart too, since no write can land then.
    ``origin``: the run's start, which the slowest transitions' times are counted from (to
    set them beside ``phases``).
    """
    jobs = store.Store(cfg.workdir / "emulator-state.jsonl")
    by_uid: dict[str, list[store.Job]] = {}
    for job in jobs.jobs("us-east-1"):
        by_uid.setdefault(job.tags.get(names.TAG_UID, ""), []).append(job)
    uids = dict(watch.uids)  # resource name -> uid (the watch saw every resource)
    lost = [name for name, uid in uids.items() if uid not in by_uid]
    duplicated = [name for name, uid in uids.items() if len(by_uid.get(uid, [])) > 1]
    orphans = [uid for uid in by_uid if uid not in set(uids.values())]
    deleted_not_stopped = []

    created_lat: list[float] = []
    created_at: list[float] = []
    lags: list[float] = []
    lags_clear: list[float] = []  # the transitions whose wait did not span the outage
    tail: list[tuple[float, str, str, float]] = []  # (lag, resource, step, SageMaker's time)
    lag_by_step: dict[str, list[float]] = {}
    missed = 0
    for name, uid in uids.items():
        found = by_uid.get(uid, [])
        if len(found) != 1:
            continue
        job = found[0]
        created_at.append(job.created)
        if name in applied:
            created_lat.append(job.created - applied[name])
        steps = lifecycle.timeline(job.plan, job.created, job.stop_requested)
        order = {step.status: i for i, step in enumerate(steps)}
        history = watch.seen.get(name, [])
        if name in deleted:
            final = job.observe(end)
            if final.status not in TERMINAL:
                deleted_not_stopped.append(name)
        for i, step in enumerate(steps[1:], start=1):
            if step.start > end - 5:
                break  # not yet due when the run ended
            shown = [s.at for s in history if s.secondary in order and order[s.secondary] >= i]
            if not shown:
                missed += 1
                continue
            lag = max(0.0, min(shown) - step.start)
            lags.append(lag)
            if outage is None or not (step.start <= outage[1] and step.start + lag >= outage[0]):
                lags_clear.append(lag)
                tail.append((lag, name, step.status, step.start - origin))
            lag_by_step.setdefault(step.status, []).append(lag)
    first_apply = min(applied.values()) if applied else 0.0
    return {
        "jobs_in_sagemaker": len(jobs),
        "resources": len(uids),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "orphans": len(orphans),
        "deleted_not_stopped": len(deleted_not_stopped),
        "examples": {"lost": lost[:5], "duplicated": duplicated[:5], "orphans": orphans[:5]},
        "create_latency": percentiles(created_lat),
        "time_to_all_created": round(max(created_at) - first_apply, 1) if created_at else None,
        "creation_per_second": (
            round(len(created_at) / max(1e-9, max(created_at) - first_apply), 1)
            if created_at
            else None
        ),
        "status_lag": percentiles(lags),
        "status_lag_outside_apiserver_outage": percentiles(lags_clear),
        "transitions_spanning_apiserver_outage": len(lags) - len(lags_clear),
        # The top 1 % outside the outage: when they happened says which phase makes the p99.
        "slowest_outside_apiserver_outage": [
            {"lag": round(lag, 1), "resource": name, "step": status, "at": round(at, 1)}
            for lag, name, status, at in sorted(tail, reverse=True)[: max(1, len(tail) // 100)]
        ],
        "status_lag_by_step": {k: percentiles(v) for k, v in lag_by_step.items()},
        "transitions_never_shown": missed,
    }


def run_one(cfg: RunConfig) -> dict[str, Any]:
    cfg.workdir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "n": cfg.n,
        "design": cfg.design,
        "faults": cfg.faults,
        "aws_buckets": cfg.aws_buckets,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.__dict__.items()},
    }
    phases: dict[str, float] = {}
    with stack.control_plane(cfg.workdir / "controlplane") as plane:
        plane.apply_crds(stack.REPO / "crds")
        plane.kubectl("create", "namespace", NAMESPACE)
        kubeconfig = stack.operator_kubeconfig(plane, cfg.workdir / "operator.kubeconfig")
        paced = cfg.faults or cfg.aws_buckets
        emulator = stack.Emulator(cfg.workdir, cfg.time_scale, throttle=paced)
        past = (f"--history={cfg.history}",) if cfg.history else ()
        if cfg.faults:
            # AWS-like buckets (ListTrainingJobs 2/s...) and, on top, 20 % random throttling,
            # 5 % 5xx and 200 ms per call; only CreateTrainingJob is raised (in the emulator
            # and in the operator alike) so that N jobs exist in minutes, not N/2 seconds,
            # and with --aws-buckets too, the setup's Describe as well (N = 10,000: four
            # Describes a job at 10/s would be over an hour).
            emulator.start(
                "--throttle-fraction=0.2",
                "--error-fraction=0.05",
                "--latency-ms=200",
                "--seed=6",
                *(f"--rate={rate}" for rate in fault_rates(cfg)),
                *past,
            )
        elif cfg.aws_buckets:
            emulator.start(*(f"--rate={rate}" for rate in SETUP_RATES), *past)
        else:
            emulator.start(*past)
        settings = (
            (
                # The shipped per-operation defaults (docs/reconciling.md), poll every 10 s.
                {"operation_rates": ",".join(fault_rates(cfg))}
                if cfg.faults and not cfg.aws_buckets
                else {
                    "operation_rates": ",".join(SETUP_RATES),
                    "calls_per_second": "100",
                    "call_burst": "100",
                }
                if cfg.aws_buckets
                else {
                    "calls_per_second": str(cfg.calls_per_second),
                    "call_burst": str(cfg.call_burst),
                    # Throttling off: every operation as fast as the overall budget lets it.
                    "operation_rates": ",".join(f"{op}=1000/1000" for op in budget.DEFAULT_RATES),
                }
            )
            | {"listing_lease": stack.listing_lease(plane)}
            | dict(cfg.extra_settings)
        )
        operator = stack.Operator(
            cfg.workdir, kubeconfig, NAMESPACE, emulator.url, MODULES[cfg.design], settings
        ).start()
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(str(plane.kubeconfig), client_configuration=configuration)
        configuration.connection_pool_maxsize = 16
        api = k8s.ApiClient(configuration)
        watch = StatusWatch(api, NAMESPACE).start()
        peak = {"rss": 0.0}
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.wait(2.0):
                peak["rss"] = max(peak["rss"], operator.stats().peak_rss_mib)

        threading.Thread(target=sample, daemon=True).start()
        try:
            log(f"{cfg.label}: creating {cfg.n} TrainingJobs")
            cycles_before = stack.poller_cycles(operator.metrics())
            phases["start"] = time.time()
            applied = create_all(api, cfg)
            phases["applied"] = time.time()
            log(f"{cfg.label}: applied in {phases['applied'] - phases['start']:.1f}s")

            def created() -> int:
                return sum(1 for s in watch.latest().values() if s.arn)

            if cfg.faults:
                wait_for(lambda: created() >= cfg.n // 3, 1800, "a third created")
                log(f"{cfg.label}: SIGKILL 1 of the operator with {created()} created")
                operator.kill()
                operator.start()
                wait_for(lambda: created() >= cfg.n // 2, 1800, "half created")
                log(f"{cfg.label}: restarting kube-apiserver with {created()} created")
                before = time.time()
                plane.restart_apiserver(down_seconds=5.0)
                phases["apiserver_restart"] = before
                phases["apiserver_back"] = time.time()
                ops_before = created()
                wait_for(lambda: created() > ops_before, 600, "a status after the restart", 0.2)
                phases["apiserver_recovered"] = time.time()
                result["apiserver_recovery_seconds"] = round(
                    phases["apiserver_recovered"] - before, 1
                )
                result["watch_breaks"] = watch.breaks
                wait_for(lambda: created() >= 2 * cfg.n // 3, 1800, "two thirds created")
                log(f"{cfg.label}: SIGKILL 2 of the operator with {created()} created")
                operator.kill()
                operator.start()
            wait_for(lambda: created() >= cfg.n, 3600, "all created")
            phases["all_created_seen"] = time.time()
            took = phases["all_created_seen"] - phases["start"]
            log(f"{cfg.label}: all created (status) at +{took:.0f}s")
            counters_created = emulator.counters()

            def training() -> bool:
                latest, alive = watch.latest(), watch.alive()
                return all(
                    s.secondary in ("Training", "Uploading", *TERMINAL)
                    for name, s in latest.items()
                    if name in alive
                )

            wait_for(training, 1800, "all training")
            phases["all_training"] = time.time()
            # Whether the poller kept up during the burst: a cycle longer than the interval
            # is what delays the Training status of jobs created mid-burst.
            result["poller_cycles_creation"] = stack.cycle_summary(
                cycles_before, stack.poller_cycles(operator.metrics())
            )
            log(f"{cfg.label}: poller cycles in creation {result['poller_cycles_creation']}")

            doomed = sorted(applied)[: int(cfg.n * cfg.delete_share)]
            objects = k8s.CustomObjectsApi(api)
            for name in doomed:
                objects.delete_namespaced_custom_object(
                    names.GROUP, names.VERSION, NAMESPACE, names.PLURAL, name
                )
            waited = wait_for(lambda: set(doomed) <= set(watch.gone), 1200, "deleted released")
            phases["deleted"] = time.time()
            result["delete_release_seconds"] = round(waited, 1)
            log(f"{cfg.label}: {len(doomed)} deleted and released in {waited:.0f}s")

            # The stopped jobs stay in every listing window for one clock-skew overlap: wait
            # that out, and two polls more, so the window counts steady state, not them.
            time.sleep(SETTLE_SECONDS)
            if cfg.design == "ours":
                # Statuses shown from summaries in the burst owe a Describe, paid as the
                # budget allows: steady state begins once they are paid.
                waited = wait_for(
                    lambda: stack.owed_describes(operator.metrics()) == 0, 3600, "owed paid"
                )
                result["owed_paid_seconds"] = round(waited, 1)
                log(f"{cfg.label}: owed Describes paid {waited:.0f}s after the settle")
            before_steady = emulator.counters()
            pages_before = stack.poller_pages(operator.metrics())
            phases["steady_start"] = time.time()
            time.sleep(cfg.steady_seconds)
            phases["steady_end"] = time.time()
            steady = diff(emulator.counters(), before_steady)
            pages_after = stack.poller_pages(operator.metrics())
            minutes = (phases["steady_end"] - phases["steady_start"]) / 60
            steady["per_minute"] = {
                k: round(v / minutes, 1) for k, v in steady["by_operation"].items()
            }
            steady["total_per_minute"] = round(steady["total"] / minutes, 1)
            # A full sweep (every 10 min: N/100 pages) may or may not fall in a 90 s window;
            # the poller's own page counters tell its pages apart from the ordinary polls'.
            steady["poller_pages"] = {
                kind: pages_after[kind] - pages_before.get(kind, 0.0) for kind in pages_after
            }
            swept = steady["poller_pages"].get("full", 0.0)
            steady["full_sweep_pages"] = swept
            steady["per_minute_without_sweeps"] = round((steady["total"] - swept) / minutes, 1)
            result["steady"] = steady
            log(f"{cfg.label}: steady calls/min {steady['total_per_minute']}")

            # Restart: SIGKILL with every remaining job training, then start again.
            alive = len(watch.alive())
            used = operator.kill()
            before_restart = emulator.counters()
            phases["restart"] = time.time()
            operator.start()
            phases["restart_alive"] = time.time()

            first_page: list[float] = []  # when the restarted operator's first List came

            def caught_up() -> bool:
                if not first_page:
                    calls = diff(emulator.counters(), before_restart)["by_operation"]
                    if calls.get("ListTrainingJobs", 0):
                        first_page.append(time.time())
                if cfg.design == "ours":
                    metrics = operator.metrics()
                    stamps = [
                        v
                        for k, v in metrics.items()
                        if k.startswith("sagemaker_operator_poller_last_success_timestamp")
                    ]
                    return bool(stamps) and max(stamps) >= phases["restart"]
                calls = diff(emulator.counters(), before_restart)
                described: int = calls["by_operation"].get("DescribeTrainingJob", 0)
                return described >= alive

            waited = wait_for(caught_up, 600, "caught up after restart", 0.2)
            phases["caught_up"] = time.time()
            upto = diff(emulator.counters(), before_restart)
            remaining = cfg.restart_window - (time.time() - phases["restart"])
            if remaining > 0:
                time.sleep(remaining)
            window = diff(emulator.counters(), before_restart)
            result["restart"] = {
                "resources": alive,
                "first_incarnation": used.__dict__,
                "process_start_seconds": round(phases["restart_alive"] - phases["restart"], 1),
                "caught_up_seconds": round(phases["caught_up"] - phases["restart"], 1),
                # NB: to the 0.2 s of the bench's polling; None if the catch-up needed no List.
                "first_page_seconds": round(first_page[0] - phases["restart"], 1)
                if first_page
                else None,
                "calls_until_caught_up": upto,
                "calls_first_window": window,
                "window_seconds": cfg.restart_window,
            }
            log(f"{cfg.label}: restart caught up in {waited:.1f}s, calls {upto['by_operation']}")

            if not cfg.stop_after_restart:
                spread = cfg.finish_spread or phases["all_created_seen"] - phases["start"]
                if paced and not cfg.finish_spread:
                    spread = max(spread, cfg.n / budget.DEFAULT_RATES["CreateTrainingJob"].rate)
                told = emulator.admin(
                    "finish-training", {"region": "us-east-1", "spreadSeconds": spread}
                )["jobs"]
                phases["finish_training"] = time.time()
                result["finish"] = {"jobs": told, "spread_seconds": round(spread, 1)}
                log(f"{cfg.label}: training ends for {told} jobs over {spread:.0f}s")

                def finished() -> bool:
                    latest, alive = watch.latest(), watch.alive()
                    return len(alive) == cfg.n - len(doomed) and all(
                        s.secondary in TERMINAL for name, s in latest.items() if name in alive
                    )

                wait_for(finished, spread + 1800, "all finished")
                time.sleep(5)
                phases["end"] = time.time()
            else:
                phases["end"] = time.time()
            total = diff(emulator.counters(), {})
            result["calls_total"] = total
            result["calls_during_creation"] = diff(counters_created, {})
            result["describes_per_job"] = round(
                total["by_operation"].get("DescribeTrainingJob", 0) / cfg.n, 2
            )
            result["calls_per_job"] = round(total["total"] / cfg.n, 2)
            final = operator.stop()
            incarnations = operator.incarnations
            result["operator"] = {
                "cpu_seconds": round(sum(i.cpu_seconds for i in incarnations), 1),
                "peak_rss_mib": round(max(peak["rss"], *(i.peak_rss_mib for i in incarnations)), 1),
                "final_incarnation": final.__dict__,
            }
            result["kube_requests"] = {
                "total_by_verb": dict(stack.audit_counts(plane.workdir / "audit.log")),
            }
            result["kube_requests"]["by_code"] = dict(
                stack.audit_counts(plane.workdir / "audit.log", by_code=True)
            )
            result["kube_requests"]["total"] = sum(
                result["kube_requests"]["total_by_verb"].values()
            )
            result["kube_requests"]["per_job"] = round(result["kube_requests"]["total"] / cfg.n, 2)
            steady_k8s = stack.audit_counts(
                plane.workdir / "audit.log", phases["steady_start"], phases["steady_end"]
            )
            result["kube_requests"]["steady_per_minute"] = round(
                sum(steady_k8s.values()) / minutes, 1
            )
        finally:
            sampling.set()
            watch.stop()
            operator.stop()
            emulator.stop()
        result["phases"] = {k: round(v - phases["start"], 1) for k, v in phases.items()}
        outage = (
            (phases["apiserver_restart"], phases["apiserver_recovered"])
            if "apiserver_recovered" in phases
            else None
        )
        result["jobs"] = analyse_jobs(
            cfg, watch, applied, set(doomed), phases["end"], outage, phases["start"]
        )
        result["watch_breaks"] = watch.breaks
    return result


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # so a `kill` runs the finally blocks that stop every process


def main() -> None:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)  # a background job starts with SIGINT ignored
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, action="append", help="repeatable; default 1000 5000 10000"
    )
    parser.add_argument("--design", action="append", choices=sorted(MODULES))
    parser.add_argument(
        "--faults", action="store_true", help="throttling, 5%% 5xx, 200 ms, API restart"
    )
    parser.add_argument(
        "--aws-buckets",
        action="store_true",
        help="AWS-like per-operation buckets (emulator) and budgets (operator), Create and "
        "Describe raised for setup; with --faults, the faults on top",
    )
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument(
        "--finish-spread", type=float, default=0.0, help="seconds; 0: as long as creation took"
    )
    parser.add_argument("--steady-seconds", type=float, default=90.0)
    parser.add_argument(
        "--history", type=int, default=0, help="finished jobs the account had before the run"
    )
    parser.add_argument(
        "--stop-after-restart", action="store_true", help="end after the restart is measured"
    )
    parser.add_argument(
        "--delete-share", type=float, default=RunConfig.delete_share, help="resources deleted"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an operator setting (e.g. thread_pool_size=32); repeatable",
    )
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/smop-bench"))
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for n in args.n or [1000, 5000, 10000]:
        for design in args.design or ["ours", "baseline"]:
            cfg = RunConfig(
                n=n,
                design=design,
                workdir=args.workdir / f"{n}-{design}-{int(time.time())}",
                time_scale=args.time_scale,
                finish_spread=args.finish_spread,
                history=args.history,
                delete_share=args.delete_share,
                stop_after_restart=args.stop_after_restart,
                steady_seconds=args.steady_seconds,
                faults=args.faults,
                aws_buckets=args.aws_buckets,
                extra_settings=tuple((k, v) for k, _, v in (kv.partition("=") for kv in args.set)),
            )
            result = run_one(cfg)
            out = RESULTS / f"{cfg.label}.json"
            out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
            log(f"{cfg.label}: wrote {out}")
            print(
                yaml.safe_dump(
                    {
                        k: result[k]
                        for k in (
                            "jobs",
                            "steady",
                            "restart",
                            "operator",
                            "kube_requests",
                            "describes_per_job",
                        )
                    },
                    sort_keys=False,
                )
            )


if __name__ == "__main__":
    main()
