"""The processes a benchmark run is made of: control plane, emulator and operator.

Each runs as its own OS process, as in a cluster, so the operator's CPU time and peak RSS
are its own (read from ``/proc``), and the emulator's work never lands on the operator's
event loop. The API server writes an audit log of the requests made by the operator's
user only, so "Kubernetes requests made by the operator" is counted by the server, not by
the client being measured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from sagemaker_operator.controller import proofs
from sagemaker_operator.devstack.controlplane import ControlPlane, free_port

REPO = Path(__file__).resolve().parents[1]
OPERATOR_USER = "system:serviceaccount:sagemaker-operator-system:bench-operator"
AUDIT_POLICY = f"""\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  users: ["{OPERATOR_USER}"]
- level: None
"""
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def control_plane(workdir: Path) -> ControlPlane:
    """A control plane whose API server audits the operator's user (and nobody else)."""
    workdir.mkdir(parents=True, exist_ok=True)
    policy = workdir / "audit-policy.yaml"
    policy.write_text(AUDIT_POLICY)
    return ControlPlane(
        workdir,
        apiserver_args=(
            f"--audit-policy-file={policy}",
            f"--audit-log-path={workdir / 'audit.log'}",
            "--audit-log-format=json",
            "--audit-log-mode=batch",
            "--audit-log-batch-max-wait=1s",
        ),
    )


def operator_kubeconfig(plane: ControlPlane, path: Path) -> Path:
    """A ServiceAccount kubeconfig for the operator, bound to cluster-admin (RBAC is not
    what is measured; the Helm chart's narrower role is tested elsewhere)."""
    plane.kubectl("create", "namespace", "sagemaker-operator-system", check=False)
    plane.kubectl(
        "create",
        "clusterrolebinding",
        "bench-operator",
        "--clusterrole=cluster-admin",
        "--serviceaccount=sagemaker-operator-system:bench-operator",
        check=False,
    )
    return plane.service_account_kubeconfig("sagemaker-operator-system", "bench-operator", path)


def listing_lease(plane: ControlPlane) -> str:
    """The Lease the chart would create for the pollers' listing hints (window_hints), as
    the ``--listing-lease`` setting: a restart lists from it as an installed operator does."""
    body = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "bench-listing", "namespace": "sagemaker-operator-system"},
        "spec": {},
    }
    plane.kubectl("create", "namespace", "sagemaker-operator-system", check=False)
    plane.kubectl("apply", "-f", "-", input=json.dumps(body))
    return "sagemaker-operator-system/bench-listing"


def audit_counts(
    path: Path, since: float = 0.0, until: float = float("inf"), *, by_code: bool = False
) -> Counter[str]:
    """Completed requests of the operator's user by verb (or by HTTP status code), between
    two wall-clock times.

    Reads the files the API server rotated away too (``audit-<time>.log``, every 100 MB by
    default): at N = 10,000 the log rotated mid-run and nine tenths of it went uncounted.
    """
    counts: Counter[str] = Counter()
    rotated = sorted(path.parent.glob(f"{path.stem}-*{path.suffix}"))
    for part in [*rotated, path]:
        if part.exists():
            _count_file(part, counts, since, until, by_code=by_code)
    return counts


def _count_file(
    path: Path, counts: Counter[str], since: float, until: float, *, by_code: bool
) -> None:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("stage") != "ResponseComplete":
                continue
            stamp = _parse_stamp(entry.get("requestReceivedTimestamp", ""))
            if since <= stamp < until:
                if by_code:
                    counts[str(entry.get("responseStatus", {}).get("code", "?"))] += 1
                    continue
                resource = entry.get("objectRef", {}).get("resource", "?")
                sub = entry.get("objectRef", {}).get("subresource")
                counts[f"{entry.get('verb')} {resource}{'/' + sub if sub else ''}"] += 1


def _parse_stamp(value: str) -> float:
    import datetime

    try:
        return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


@dataclass
class Emulator:
    workdir: Path
    time_scale: float
    throttle: bool
    port: int = 0
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def state_file(self) -> Path:
        return self.workdir / "emulator-state.jsonl"

    def start(self, *extra: str) -> Emulator:
        self.port = free_port()
        self._log = (self.workdir / "emulator.log").open("ab")
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagemaker_operator.cli",
                "emulator",
                f"--port={self.port}",
                f"--time-scale={self.time_scale}",
                f"--state-file={self.state_file}",
                "--throttle" if self.throttle else "--no-throttle",
                "--admin",  # health, counters and finish-training below
                *extra,
            ],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _wait_url(f"{self.url}/_emulator/health", self.popen)
        return self

    def admin(self, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}/_emulator/{path}",
            data=data,
            method="POST" if data is not None else "GET",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def counters(self) -> dict[str, dict[str, int]]:
        found: dict[str, dict[str, int]] = self.admin("counters")["operations"]
        return found

    def stop(self) -> None:
        _stop(self.popen)
        if self._log is not None:
            self._log.close()


@dataclass
class ProcessStats:
    """CPU seconds and peak RSS of a process, read from /proc (VmHWM is the kernel's peak)."""

    cpu_seconds: float = 0.0
    peak_rss_mib: float = 0.0

    @classmethod
    def of(cls, pid: int) -> ProcessStats:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return cls()
        cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        hwm = next((line for line in status.splitlines() if line.startswith("VmHWM:")), "")
        return cls(cpu, int(hwm.split()[1]) / 1024 if hwm else 0.0)


@dataclass
class Operator:
    """``sagemaker-operator run`` (``module`` = the CLI) or the baseline, same flags, same env."""

    workdir: Path
    kubeconfig: Path
    namespace: str
    endpoint_url: str
    module: str
    settings: dict[str, str]
    popen: subprocess.Popen[bytes] | None = None
    metrics_port: int = 0
    liveness_port: int = 0
    incarnations: list[ProcessStats] = field(default_factory=list)
    _log: IO[bytes] | None = None

    def start(self) -> Operator:
        self.metrics_port, self.liveness_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAGEMAKER_OPERATOR_DEFAULT_REGION": "us-east-1",
            "SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL": self.endpoint_url,
            "SAGEMAKER_OPERATOR_METRICS_PORT": str(self.metrics_port),
            "SAGEMAKER_OPERATOR_LIVENESS_PORT": str(self.liveness_port),
            "SAGEMAKER_OPERATOR_LOG_LEVEL": "WARNING",
            "SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT": "true",  # the emulator, on loopback
            # As the chart installs it: one key for every process of the run, so a restart
            # trusts its predecessor's ownership proofs (docs/security.md).
            "SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE": str(
                proofs.key_file(self.workdir / "ownership-key")
            ),
        }
        env |= {f"SAGEMAKER_OPERATOR_{k.upper()}": v for k, v in self.settings.items()}
        env["PYTHONPATH"] = os.pathsep.join(
            [str(REPO), str(REPO / "operator"), env.get("PYTHONPATH", "")]
        )
        self._log = (self.workdir / "operator.log").open("ab")
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                self.module,
                "run",
                f"--kubeconfig={self.kubeconfig}",
                f"--namespace={self.namespace}",
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        _wait_url(f"http://127.0.0.1:{self.liveness_port}/healthz", self.popen, timeout=120)
        return self

    @property
    def pid(self) -> int:
        assert self.popen is not None
        return self.popen.pid

    def stats(self) -> ProcessStats:
        return ProcessStats.of(self.pid)

    def metrics(self) -> dict[str, float]:
        """Prometheus text, flattened to {"name{labels}": value}."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return {}
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    found[name] = float(value)
                except ValueError:
                    continue
        return found

    def kill(self) -> ProcessStats:
        """SIGKILL (a crash); returns what this incarnation used."""
        used = self.stats()
        self.incarnations.append(used)
        _stop(self.popen, signal.SIGKILL)
        return used

    def stop(self) -> ProcessStats:
        used = self.stats()
        self.incarnations.append(used)
        _stop(self.popen)
        if self._log is not None:
            self._log.close()
        return used


def _wait_url(url: str, popen: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise RuntimeError(f"{popen.args!r} exited early ({popen.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)  # a process that is starting: nothing to wait on but its port
    raise RuntimeError(f"{url} not up after {timeout}s")


def _stop(popen: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if popen is None or popen.poll() is not None:
        return
    popen.send_signal(sig)
    try:
        popen.wait(timeout=30)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def poller_pages(metrics: dict[str, float]) -> dict[str, float]:
    """The poller's ListTrainingJobs pages by sweep kind, from the operator's /metrics."""
    found: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith("sagemaker_operator_poller_pages_total{"):
            kind = key.split('sweep="', 1)[1].split('"', 1)[0]
            found[kind] = found.get(kind, 0.0) + value
    return found


def owed_describes(metrics: dict[str, float]) -> float:
    """Jobs shown from a summary that still owe a Describe, over every region (NaN: none
    reported yet)."""
    found = [
        value
        for key, value in metrics.items()
        if key.startswith("sagemaker_operator_poller_owed_describes{")
    ]
    return sum(found) if found else float("nan")


def poller_cycles(metrics: dict[str, float]) -> dict[str, float]:
    """The poller's cycle-time histogram, summed over regions: count, sum, and cumulative
    counts per bucket bound ("le")."""
    prefix = "sagemaker_operator_poller_cycle_seconds"
    found: dict[str, float] = {}
    for key, value in metrics.items():
        if key.startswith(prefix + "_bucket{"):
            name = "le=" + key.split('le="', 1)[1].split('"', 1)[0]
        elif key.startswith((prefix + "_count{", prefix + "_sum{")):
            name = key[len(prefix) + 1 :].split("{", 1)[0]
        else:
            continue
        found[name] = found.get(name, 0.0) + value
    return found


def cycle_summary(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """Cycles between two readings of poller_cycles: how many, mean seconds, and the
    smallest bucket bound holding 50 % / 99 % / all of them (a histogram has no exact max)."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if not count:
        return {"cycles": 0}
    bounds = sorted(
        (float(key[3:]), after[key] - before.get(key, 0.0))
        for key in after
        if key.startswith("le=")
    )

    def bound_for(share: float) -> float:
        return next(le for le, cumulative in bounds if cumulative >= share * count)

    return {
        "cycles": int(count),
        "mean_seconds": round((after["sum"] - before.get("sum", 0.0)) / count, 2),
        "p50_at_most": bound_for(0.5),
        "p99_at_most": bound_for(0.99),
        "max_at_most": bound_for(1.0),
    }
