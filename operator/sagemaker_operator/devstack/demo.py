"""``make run``: the whole product on one laptop, no AWS account.

Starts a local control plane, the SageMaker emulator and the operator (each its own
process, as they would be in real life), installs the CRD, applies an example and prints
its status as it changes until SageMaker (the emulator) says it is done. With ``--keep`` it
then leaves everything running and prints how to reach it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import click
import yaml

from sagemaker_operator import names
from sagemaker_operator.controller import proofs
from sagemaker_operator.devstack import images
from sagemaker_operator.devstack.controlplane import REPO_ROOT, ControlPlane, cache_dir, free_port
from sagemaker_operator.devstack.node import Node

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
@click.option(
    "--cluster",
    is_flag=True,
    help="Run the operator as a pod: a node joins the control plane, the image is built from "
    "the Dockerfile and the Helm chart installs it (needs root; `make run-cluster`).",
)
def main(example: Path, time_scale: float, keep: bool, cluster: bool) -> None:
    """Bring up the local stack and run one TrainingJob to the end."""
    workdir = cache_dir() / "demo" / time.strftime("%Y%m%d-%H%M%S")
    workdir.mkdir(parents=True)
    processes: list[subprocess.Popen[bytes]] = []
    click.echo(f"demo: working in {workdir}")
    with contextlib.ExitStack() as stack:
        plane = stack.enter_context(ControlPlane(workdir / "controlplane"))
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
                    "--admin",  # for the health check below
                ],
                workdir / "emulator.log",
            )
            processes.append(emulator)
            _wait_http(
                f"{emulator_url}/_emulator/health", emulator, "emulator", workdir / "emulator.log"
            )
            click.echo(f"demo: SageMaker emulator at {emulator_url}")

            if cluster:
                node = stack.enter_context(Node(plane, workdir / "node"))
                click.echo(f"demo: node {node.name} Ready (containerd, kubelet, scheduler)")
                _install_chart(plane, node, workdir, emulator_port)
                _run_example(plane, example, workdir, emulator_url)
                if keep:
                    _stay_up_cluster(plane, emulator_url)
                else:
                    click.echo("demo: done; tearing the stack down.")
                return

            plane.apply_crds(REPO_ROOT / "crds")

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
                SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT="true",  # the emulator, on loopback
                # The chart's Secret does this in a cluster (docs/security.md).
                SAGEMAKER_OPERATOR_OWNERSHIP_KEY_FILE=str(
                    proofs.key_file(workdir / "ownership-key")
                ),
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

            _run_example(plane, example, workdir, emulator_url)
            if keep:
                _stay_up(plane, operator, emulator_url)
            else:
                click.echo("demo: done; tearing the stack down.")
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=20)


def _install_chart(plane: ControlPlane, node: Node, workdir: Path, emulator_port: int) -> None:
    """Build the image (cached), import it into the node, ``helm install`` the chart with it."""
    click.echo(
        "demo: building the operator image from the Dockerfile (cached after the first time)"
    )
    image = images.operator_image()
    node.import_image(image.archive, image.ref)
    click.echo(f"demo: image {image.ref} imported into the node")
    values = {
        "image": {"repository": image.name, "tag": image.tag, "pullPolicy": "Never"},
        "operator": {
            "defaultRegion": "us-east-1",
            # The emulator runs on the host's loopback; pods reach it at the bridge gateway.
            "sagemakerEndpointUrl": f"http://{node.expose(emulator_port)}",
            "allowInsecureEndpoint": True,
            "pollIntervalSeconds": 2,
        },
        "extraEnv": [
            {"name": "AWS_ACCESS_KEY_ID", "value": "emulator"},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "emulator"},
            {"name": "AWS_EC2_METADATA_DISABLED", "value": "true"},
        ],
    }
    values_file = workdir / "values.json"
    values_file.write_text(json.dumps(values))
    namespace = "sagemaker-operator-system"
    helm = [str(plane.bin_dir / "helm"), f"--kubeconfig={plane.kubeconfig}"]
    subprocess.run(
        [*helm, "install", "sagemaker-operator", str(REPO_ROOT / "helm" / "sagemaker-operator"),
         f"--namespace={namespace}", "--create-namespace", f"--values={values_file}",
         "--wait", "--timeout=5m"],
        check=True, env=dict(os.environ, HOME=str(workdir)),
    )  # fmt: skip
    pods = plane.kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout
    click.echo(f"demo: helm installed the chart; the operator runs as a pod:\n{pods}")


def _stay_up_cluster(plane: ControlPlane, emulator_url: str) -> None:
    click.echo(
        "demo: the stack stays up until Ctrl-C. In another shell:\n"
        f"  export KUBECONFIG={plane.kubeconfig}\n"
        f"  alias kubectl={plane.bin_dir / 'kubectl'}\n"
        "  kubectl get pods -n sagemaker-operator-system -o wide\n"
        "  kubectl logs -n sagemaker-operator-system deploy/sagemaker-operator\n"
        f"The SageMaker emulator is at {emulator_url} (docs/emulator.md)."
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("demo: stopping")


def _run_example(plane: ControlPlane, example: Path, workdir: Path, emulator_url: str) -> None:
    """The example to Completed (its log lines shown as it trains, as `kubectl sagemaker logs
    -f` prints them), then a long-running copy deleted: stopped, then released."""
    manifest = yaml.safe_load(example.read_text())
    name = manifest["metadata"]["name"]
    plane.kubectl("apply", "-n", "default", "-f", str(example))
    click.echo(f"demo: applied {example.name}; its status and its log lines as they come:")
    logs = _show_logs(plane, name, emulator_url)
    phase = _follow(plane, name, "Completed")
    logs.wait(timeout=60)
    if phase != "Completed":
        raise click.ClickException(f"{name} ended {phase}; see {workdir}/operator.log")
    plane.kubectl(
        "wait",
        f"{names.PLURAL}/{name}",
        "-n",
        "default",
        "--for=condition=Succeeded",
        "--timeout=10s",
    )
    click.echo("demo: Completed, and `kubectl wait --for=condition=Succeeded` returned.\n")

    running = _long_running_copy(manifest)
    other = running["metadata"]["name"]
    plane.kubectl("apply", "-n", "default", "-f", "-", input=yaml.safe_dump(running))
    click.echo(f"demo: applied {other}, a job that would train for days:")
    _follow(plane, other, "InProgress")
    plane.kubectl(
        "wait",
        f"{names.PLURAL}/{other}",
        "-n",
        "default",
        "--for=jsonpath={.status.secondaryStatus}=Training",
        "--timeout=120s",
    )
    click.echo(f"demo: kubectl delete smtj {other}: the operator stops the SageMaker job first")
    plane.kubectl("delete", names.PLURAL, other, "-n", "default", "--wait=false")
    _follow(plane, other, "gone")
    click.echo("")
    click.echo(plane.kubectl("get", "events", "-n", "default", "--sort-by=.lastTimestamp").stdout)


def _show_logs(plane: ControlPlane, name: str, emulator_url: str) -> subprocess.Popen[str]:
    """``sagemaker-operator logs NAME -f`` in the background, its lines echoed as ``log |``."""
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID="demo-user",
        AWS_SECRET_ACCESS_KEY="demo-user",
        AWS_EC2_METADATA_DISABLED="true",
        SAGEMAKER_OPERATOR_ENDPOINT_URL=emulator_url,
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sagemaker_operator.cli",
            "logs",
            name,
            "-f",
            "-n",
            "default",
            f"--kubeconfig={plane.kubeconfig}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def echo() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            click.echo(f"  log | {line.rstrip()}")

    threading.Thread(target=echo, name="demo-logs", daemon=True).start()
    return process


def _long_running_copy(manifest: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(manifest))
    copy["metadata"]["name"] = f"{manifest['metadata']['name']}-to-stop"
    fate = {"key": "emulator.sagemaker-operator.io/duration-seconds", "value": "1000000"}
    copy["spec"]["tags"] = [*copy["spec"].get("tags", []), fate]
    copy["spec"]["stoppingCondition"] = {"maxRuntimeInSeconds": 2419200}
    return copy


def _stay_up(plane: ControlPlane, operator: subprocess.Popen[bytes], emulator_url: str) -> None:
    click.echo(
        "demo: the stack stays up until Ctrl-C. In another shell:\n"
        f"  export KUBECONFIG={plane.kubeconfig}\n"
        f"  alias kubectl={plane.bin_dir / 'kubectl'}\n"
        "  kubectl get smtj -o wide\n"
        f"  kubectl apply -f {REPO_ROOT / 'examples' / 'xgboost-builtin.yaml'}\n"
        f"The SageMaker emulator is at {emulator_url} (docs/emulator.md)."
    )
    try:
        operator.wait()
    except KeyboardInterrupt:
        click.echo("demo: stopping")


def _follow(plane: ControlPlane, name: str, until: str, timeout: float = 600) -> str:
    """Print each new status like ``kubectl get -w`` until ``until`` (a phase, or "gone")."""
    last: tuple[str, str] | None = None
    deadline = time.monotonic() + timeout
    click.echo(f"  {'NAME':<18} {'PHASE':<11} {'SECONDARY':<20} JOB")
    while time.monotonic() < deadline:
        found = plane.kubectl("get", names.PLURAL, name, "-n", "default", "-o", "json", check=False)
        if found.returncode != 0:
            if until == "gone" and "NotFound" in found.stderr:
                click.echo(f"  {name:<18} deleted: the job stopped, the finalizer was released")
                return "gone"
            raise click.ClickException(found.stderr)
        status = json.loads(found.stdout).get("status", {})
        now = (str(status.get("phase", "-")), str(status.get("secondaryStatus", "-")))
        if now != last:
            job = status.get("trainingJobName", "-")
            click.echo(f"  {name:<18} {now[0]:<11} {now[1]:<20} {job}")
            last = now
        if now[0] == until or (until != "gone" and now[0] in TERMINAL):
            return now[0]
        time.sleep(0.5)  # a human-paced view; the operator itself never polls the API server
    raise click.ClickException(f"{name} did not reach {until} in {timeout:.0f}s")


if __name__ == "__main__":
    main()
