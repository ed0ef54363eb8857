"""pytest fixtures that run the operator as a real process against the test bed.

``start_operator(namespace, **settings)`` launches ``sagemaker-operator run`` watching only that
namespace (so tests never share an operator; ``clusterwide=True`` watches all, for the
chart's cluster scope), pointed at the session's control plane and the
emulator, and waits for its liveness endpoint. ``settings`` become ``SAGEMAKER_OPERATOR_*``
variables; ``env={...}`` sets raw variables last (other AWS credentials, say). The handle
can restart or kill it, and a failing test gets the operator's log in its report.
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
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator import names
from sagemaker_operator.controller import proofs
from sagemaker_operator.devstack.controlplane import ControlPlane, free_port
from sagemaker_operator.emulator import testing
from sagemaker_operator.sagemaker import budget

_OPERATORS_KEY = pytest.StashKey[list["OperatorProcess"]]()


@dataclass
class OperatorProcess:
    namespace: str
    kubeconfig: Path
    log_path: Path
    env: dict[str, str]
    liveness_port: int = 0
    metrics_port: int = 0
    clusterwide: bool = False  # no --namespace: watch every namespace
    popen: subprocess.Popen[bytes] | None = None
    _log_files: list[Any] = field(default_factory=list)

    def start(self) -> OperatorProcess:
        self.liveness_port, self.metrics_port = free_port(), free_port()
        env = dict(
            self.env,
            SAGEMAKER_OPERATOR_LIVENESS_PORT=str(self.liveness_port),
            SAGEMAKER_OPERATOR_METRICS_PORT=str(self.metrics_port),
        )
        log = self.log_path.open("ab")
        self._log_files.append(log)
        self.popen = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sagemaker_operator.cli",
                "run",
                f"--kubeconfig={self.kubeconfig}",
                *([] if self.clusterwide else [f"--namespace={self.namespace}"]),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self._wait_alive()
        return self

    def _wait_alive(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.liveness_port}/healthz"
        while time.monotonic() < deadline:
            assert self.popen is not None
            if self.popen.poll() is not None:
                raise RuntimeError(f"operator exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)  # a starting process: nothing to wait on but its port
        raise RuntimeError(f"operator not alive after {timeout}s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for log in self._log_files:
            log.close()
        self._log_files.clear()

    def kill(self) -> None:
        """SIGKILL: the crash the design must survive."""
        self.stop(signal.SIGKILL)

    def restart(self) -> OperatorProcess:
        self.stop()
        return self.start()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text: str = response.read().decode()
            return text


StartOperator = Callable[..., OperatorProcess]


@pytest.fixture
def start_operator(
    control_plane: ControlPlane,
    sagemaker_emulator: testing.Running,
    crd_installed: None,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Iterator[StartOperator]:
    started: list[OperatorProcess] = []
    request.node.stash[_OPERATORS_KEY] = started
    # One ownership key per test, as the chart gives each installation one: every process the
    # test starts (a restart, a peer) checks the others' proofs. ``ownership_key_file=""``
    # runs without proofs.
    key = proofs.key_file(tmp_path / "ownership-key")

    def start(
        namespace: str,
        *,
        kubeconfig: Path | None = None,
        clusterwide: bool = False,
        env: Mapping[str, str] | None = None,
        **settings: Any,
    ) -> OperatorProcess:
        environ = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        environ |= {
            "AWS_ACCESS_KEY_ID": "emulator",
            "AWS_SECRET_ACCESS_KEY": "emulator",
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAGEMAKER_OPERATOR_DEFAULT_REGION": "us-east-1",
            "SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL": sagemaker_emulator.url,
            "SAGEMAKER_OPERATOR_POLL_INTERVAL_SECONDS": "0.3",
            "SAGEMAKER_OPERATOR_CLOCK_SKEW_SECONDS": "2",
            "SAGEMAKER_OPERATOR_CALLS_PER_SECOND": "100",
            "SAGEMAKER_OPERATOR_CALL_BURST": "100",
            # Tests are not about pacing (tests/reconciler/test_budget.py is): every operation
            # as fast as the region's overall budget lets it.
            "SAGEMAKER_OPERATOR_OPERATION_RATES": ",".join(
                f"{operation}=100/100" for operation in budget.DEFAULT_RATES
            ),
            # The emulator speaks plain http on loopback; real endpoints must be https.
            "SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT": "true",
            "SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE": str(key),
        }
        environ |= {
            f"SAGEMAKER_OPERATOR_{key.upper()}": str(value) for key, value in settings.items()
        }
        environ |= dict(env or {})
        process = OperatorProcess(
            namespace=namespace,
            kubeconfig=kubeconfig or control_plane.kubeconfig,
            log_path=tmp_path / f"operator-{len(started)}.log",
            env=environ,
            clusterwide=clusterwide,
        )
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()


ApplyPolicy = Callable[..., str]


@pytest.fixture
def apply_policy(control_plane: ControlPlane, crd_installed: None) -> Iterator[ApplyPolicy]:
    """Apply a TrainingJobPolicy selecting one namespace (by its name label); the test's
    policies are deleted after it, since policies are cluster-scoped."""
    made: list[str] = []

    def apply(namespace: str, name: str | None = None, **spec: Any) -> str:
        name = name or f"{namespace}-{len(made)}"
        selector = {"matchLabels": {"kubernetes.io/metadata.name": namespace}}
        body = {
            "apiVersion": names.API_VERSION,
            "kind": names.POLICY_KIND,
            "metadata": {"name": name},
            "spec": {"namespaceSelector": selector, **spec},
        }
        control_plane.kubectl("apply", "-f", "-", input=json.dumps(body))
        made.append(name)
        return name

    yield apply
    for name in made:
        control_plane.kubectl("delete", names.POLICY_PLURAL, name, "--ignore-not-found")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        started: list[OperatorProcess] = item.stash.get(_OPERATORS_KEY, [])
        for index, process in enumerate(started):
            report.sections.append((f"operator {index} log", process.log()[-20000:]))
    return report
