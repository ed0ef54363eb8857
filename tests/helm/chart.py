"""Drive the Helm chart from tests: render it, install it into the test control plane.

``render`` runs ``helm template`` and parses the manifests; ``install_chart`` runs
``helm install`` against a real API server and returns a :class:`Release` with a kubeconfig
that authenticates as the chart's own ServiceAccount, so a test can run the operator with
exactly the permissions the chart grants (and nothing more). Values are passed as a JSON
file (JSON is YAML), never as ``--set`` strings, so their types are what the test wrote.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sagemaker_operator.devstack import controlplane
from sagemaker_operator.devstack.controlplane import ControlPlane

REPO_ROOT = controlplane.REPO_ROOT
CHART_DIR = REPO_ROOT / "helm" / "sagemaker-operator"
REPO_CRDS_DIR = REPO_ROOT / "crds"
CHART_CRDS_DIR = CHART_DIR / "files" / "crds"

Manifest = dict[str, Any]


class HelmError(RuntimeError):
    """helm exited non-zero; the message carries its stderr."""

    def __init__(self, args: Sequence[str], stderr: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


def helm_binary() -> Path:
    return controlplane.ensure_binaries() / "helm"


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
    """Run the pinned helm; return stdout, or raise :class:`HelmError` with its stderr."""
    command = [str(helm_binary()), *args]
    if kubeconfig is not None:
        command.append(f"--kubeconfig={kubeconfig}")
    with tempfile.TemporaryDirectory(prefix="helm-home-") as home:
        # NB: an isolated HELM_* home: a developer's own repositories and plugins stay out.
        env = {
            # NB: without HOME, client-go puts its discovery cache in ./.kube/cache, shared by
            # every run: a stale entry for a reused port hid the peering CRD from a later test.
            "HOME": home,
            "HELM_CACHE_HOME": f"{home}/cache",
            "HELM_CONFIG_HOME": f"{home}/config",
            "HELM_DATA_HOME": f"{home}/data",
            "PATH": "/usr/bin:/bin",
        }
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=300, env=env, check=False
        )
    if check and result.returncode != 0:
        raise HelmError(args, result.stderr)
    return result.stdout


def _values_args(values: Mapping[str, Any], directory: Path) -> list[str]:
    path = directory / "values.json"
    path.write_text(json.dumps(values))
    return [f"--values={path}"]


def render_text(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "smop",
    namespace: str = "sagemaker-operator-system",
    chart: Path = CHART_DIR,
    show_only: str | None = None,
) -> str:
    """``helm template`` output as text, comments included (``show_only``: one template)."""
    with tempfile.TemporaryDirectory(prefix="helm-values-") as directory:
        return helm(
            "template",
            release,
            str(chart),
            f"--namespace={namespace}",
            "--include-crds",
            *([f"--show-only={show_only}"] if show_only else []),
            *_values_args(values or {}, Path(directory)),
        )


def render(
    values: Mapping[str, Any] | None = None,
    *,
    release: str = "smop",
    namespace: str = "sagemaker-operator-system",
    chart: Path = CHART_DIR,
) -> list[Manifest]:
    """``helm template`` the chart with ``values``; the manifests, in helm's order."""
    out = render_text(values, release=release, namespace=namespace, chart=chart)
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> list[Manifest]:
    return [
        m
        for m in manifests
        if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)
    ]


def only(manifests: Iterable[Manifest], kind: str, name: str | None = None) -> Manifest:
    found = find(manifests, kind, name)
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


@dataclass(frozen=True)
class Release:
    """An installed release and the credentials of the ServiceAccount the chart made."""

    name: str
    namespace: str
    service_account: str
    kubeconfig: Path  # authenticates as system:serviceaccount:<namespace>:<service_account>
    listing_lease: str = ""  # <namespace>/<name> of the chart's Lease for listing hints


def install_chart(
    plane: ControlPlane,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    *,
    workdir: Path,
    take_ownership: bool = True,
) -> Release:
    """``helm install`` into ``namespace`` (created if missing) and mint the SA's token.

    ``take_ownership`` lets the release adopt a TrainingJob CRD that another test applied
    with kubectl (the CRD is cluster-wide, shared by the session's whole control plane).
    """
    args = [
        "install",
        release,
        str(CHART_DIR),
        f"--namespace={namespace}",
        "--create-namespace",
        *_values_args(values, workdir),
    ]
    if take_ownership:
        args.append("--take-ownership")
    helm(*args, kubeconfig=plane.kubeconfig)
    service_account = _service_account_name(release, values)
    kubeconfig = plane.service_account_kubeconfig(
        namespace,
        service_account,
        workdir / f"{namespace}-{service_account}.kubeconfig",
        create=False,
    )
    lease = only(render(values, release=release), "Lease")["metadata"]["name"]
    return Release(release, namespace, service_account, kubeconfig, f"{namespace}/{lease}")


def upgrade_chart(
    plane: ControlPlane,
    release: Release,
    values: Mapping[str, Any],
    *,
    workdir: Path,
    chart: Path = CHART_DIR,
) -> None:
    helm(
        "upgrade",
        release.name,
        str(chart),
        f"--namespace={release.namespace}",
        *_values_args(values, workdir),
        kubeconfig=plane.kubeconfig,
    )


def uninstall_chart(plane: ControlPlane, release: Release) -> None:
    helm(
        "uninstall",
        release.name,
        f"--namespace={release.namespace}",
        "--wait",
        kubeconfig=plane.kubeconfig,
    )


def _service_account_name(release: str, values: Mapping[str, Any]) -> str:
    """The ServiceAccount name the chart picks, read from its own rendering."""
    manifests = render(values, release=release)
    deployment = only(manifests, "Deployment")
    name: str = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    return name
