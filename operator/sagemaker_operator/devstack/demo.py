"""``make run``: the whole product on one laptop, no AWS account.

Starts a local control plane, the SageMaker emulator and the operator (each its own
process, as they would be in real life), installs the CRD, applies an example and prints
its status as it changes until SageMaker (the emulator) says it is done. With ``--keep`` it
then leaves everything running and prints how to reach it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import click

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import REPO_ROOT, ControlPlane, cache_dir, free_port

TERMINAL = ("Completed", "Failed", "Stopped")


def _wait_http(url: str, process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise click.ClickException(f"{what} exited early; see {log}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)  # a process that is starting: nothing to wait on but its port
    raise click.ClickException(f"{what} did not come up; see {log}")


def _spawn(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )


@click.command()
@click.option(
    "--example",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=REPO_ROOT / "examples" / "minimal.yaml",
    show_default=True,
)
@click.option(
    "--time-scale",
    type=float,
    default=0.1,
    show_default=True,
    help="Emulator clock: 0.1 makes a job take about 30 seconds.",
)
@click.option("--keep", is_flag=True, help="Leave the stack running until Ctrl-C.")
def main(example: Path, time_scale: float, keep: bool) -> None:
    """Bring up the local stack and run one TrainingJob to the end."""
    workdir = cache_dir() / "demo" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True)
    processes: list[subprocess.Popen[bytes]] = []
    click.echo(f"demo: working in {workdir}")
    with ControlPlane(workdir / "controlplane") as plane:
        click.echo(f"demo: control plane ready at {plane.server}")
        try:
            emulator_port = free_port()
            emulator_url = f"http://127.0.0.1:{emulator_port}"
            emulator = _spawn(
                [
                    sys.executable,
                    "-m",
                    "sagemaker_operator.cli",
                    "emulator",
                    f"--port={emulator_port}",
                    f"--time-scale={time_scale}",
                ],
                workdir / "emulator.log",
            )
            processes.append(emulator)
            _wait_http(
                f"{emulator_url}/_emulator/health", emulator, "emulator", workdir / "emulator.log"
            )
            click.echo(f"demo: SageMaker emulator at {emulator_url}")

            for crd in sorted((REPO_ROOT / "crds").glob("*.yaml")):
                plane.kubectl("apply", "--server-side", "-f", str(crd))
            plane.kubectl("wait", "--for=condition=Established", f"crd/{names.CRD_NAME}")

            liveness = free_port()
            env = dict(
                os.environ,
                AWS_ACCESS_KEY_ID="emulator",
                AWS_SECRET_ACCESS_KEY="emulator",
                AWS_EC2_METADATA_DISABLED="true",
                SAGEMAKER_OPERATOR_DEFAULT_REGION="us-east-1",
                SAGEMAKER_OPERATOR_SAGEMAKER_ENDPOINT_URL=emulator_url,
                SAGEMAKER_OPERATOR_POLL_INTERVAL_SECONDS="2",
                SAGEMAKER_OPERATOR_LIVENESS_PORT=str(liveness),
                SAGEMAKER_OPERATOR_METRICS_PORT=str(free_port()),
                SAGEMAKER_OPERATOR_OPERATOR_NAMESPACE="default",
            )
            operator = _spawn(
                [
                    sys.executable,
                    "-m",
                    "sagemaker_operator.cli",
                    "run",
                    f"--kubeconfig={plane.kubeconfig}",
                ],
                workdir / "operator.log",
                env,
            )
            processes.append(operator)
            _wait_http(
                f"http://127.0.0.1:{liveness}/healthz",
                operator,
                "operator",
                workdir / "operator.log",
            )
            click.echo("demo: operator running")

            plane.kubectl("apply", "-n", "default", "-f", str(example))
            name = plane.kubectl("get", "-f", str(example), "-o", "name").stdout.strip()
            click.echo(f"demo: applied {example.name} ({name}); following its status")
            phase = _follow(plane, name)
            click.echo(plane.kubectl("get", names.PLURAL, "-n", "default", "-o", "wide").stdout)
            click.echo(
                plane.kubectl("get", "events", "-n", "default", "--sort-by=.lastTimestamp").stdout
            )
            if phase != "Completed":
                raise click.ClickException(f"{name} ended {phase}; see {workdir}/operator.log")
            click.echo(f"demo: {name} reached Completed.")
            if keep:
                click.echo(f"demo: export KUBECONFIG={plane.kubeconfig}   (Ctrl-C to stop)")
                operator.wait()
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=20)


def _follow(plane: ControlPlane, name: str, timeout: float = 600) -> str:
    """Print each new (phase, secondary status) until the job is terminal; return the phase."""
    last: tuple[str, str] | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = json.loads(plane.kubectl("get", name, "-n", "default", "-o", "json").stdout)
        status = found.get("status", {})
        now = (str(status.get("phase", "-")), str(status.get("secondaryStatus", "-")))
        if now != last:
            click.echo(f"demo:   phase={now[0]:<11} secondaryStatus={now[1]}")
            last = now
        if now[0] in TERMINAL:
            return now[0]
        time.sleep(1)  # a human-paced view of the status; the operator itself never sleeps so
    raise click.ClickException(f"{name} did not finish in {timeout:.0f}s")


if __name__ == "__main__":
    main()
