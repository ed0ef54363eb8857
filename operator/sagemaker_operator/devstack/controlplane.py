"""Start and stop a real etcd + kube-apiserver (+ kube-controller-manager) on loopback.

The API server runs with a static admin token and ``--authorization-mode=RBAC``, so CRD
schemas, CEL rules, finalizers, watches and RBAC behave as in a cluster. The controller
manager runs only the controllers the tests need: namespaces finish deleting, owner
references cascade, Deployments get ReplicaSets and pods, and every namespace gets its
``default`` ServiceAccount and ``kube-root-ca.crt``. Pods run only once a node joins
(``devstack.node``, started on demand by the tests that need one); the API server is ready
for it: it holds a client certificate for the kubelet and reaches it at its InternalIP.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

from sagemaker_operator.devstack import pki

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_SCRIPT = REPO_ROOT / "tests" / "controlplane" / "build.sh"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl", "helm")
# Argo Workflows' two commands, built on demand (``build.sh argo``) by ``ensure_argo``.
ARGO_BINARIES = ("workflow-controller", "argoexec")
# The service range, and its first address: the ``kubernetes`` Service a pod's client dials.
SERVICE_CIDR = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"
# The API server's identity towards kubelets (a client certificate the kubelet verifies).
KUBELET_CLIENT_USER = "kube-apiserver-kubelet-client"


class KubectlError(subprocess.CalledProcessError):
    """A failed kubectl run whose message carries kubectl's own words."""

    def __str__(self) -> str:
        return f"{' '.join(map(str, self.cmd[3:]))} failed ({self.returncode}): {self.stderr}"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built or did not become ready; the message has the logs."""


def cache_dir() -> Path:
    return Path(os.environ.get("SMOP_CACHE_DIR", REPO_ROOT / ".cache"))


def bin_dir() -> Path:
    return cache_dir() / "controlplane" / "bin"


def ensure_binaries() -> Path:
    """Build the binaries if any is missing (the script itself skips what is cached)."""
    directory = bin_dir()
    if not all((directory / name).is_file() for name in BINARIES):
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    return directory


def argo_manifests_dir() -> Path:
    """Argo's install manifests, as its pinned module ships them (linked by ``build.sh``)."""
    return cache_dir() / "controlplane" / "argo-manifests"


def ensure_argo() -> Path:
    """Build Argo's commands (and link its manifests) if missing; the script skips the cached."""
    directory = bin_dir()
    if not all((directory / name).is_file() for name in ARGO_BINARIES) or not (
        argo_manifests_dir().is_dir()
    ):
        subprocess.run(["bash", str(BUILD_SCRIPT), "argo"], check=True)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def write_kubeconfig(
    path: Path, *, server: str, ca_file: Path, token: str, user: str, namespace: str = "default"
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": server, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": user,
                "context": {"cluster": "local", "user": user, "namespace": namespace},
            }
        ],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class _Process:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def _reap(process: _Process, *, timeout: float) -> None:
    """Wait for a terminated process (killing it after ``timeout``); close its log."""
    try:
        process.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.popen.kill()
        process.popen.wait()
    process.log_file.close()


@dataclass
class ControlPlane:
    """One etcd and one kube-apiserver in ``workdir``; use as a context manager."""

    workdir: Path
    with_controller_manager: bool = True
    startup_timeout: float = 90.0
    apiserver_args: Sequence[str] = ()  # extra kube-apiserver flags, e.g. an audit log
    server: str = ""
    admin_token: str = ""
    _processes: list[_Process] = field(default_factory=list)
    _apiserver_command: list[str] = field(default_factory=list)

    @property
    def bin_dir(self) -> Path:
        return bin_dir()

    @property
    def kubeconfig(self) -> Path:
        return self.workdir / "admin.kubeconfig"

    def pid(self, name: str) -> int:
        """The process id of a running component (``kube-apiserver``, ``etcd``...)."""
        return next(p.popen.pid for p in self._processes if p.name == name)

    @property
    def ca_file(self) -> Path:
        # The API server signs its own serving certificate into --cert-dir; it is its own CA.
        return self.workdir / "certs" / "apiserver.crt"

    @property
    def kubelet_ca(self) -> tuple[Path, Path]:
        """The CA (certificate, key) that kubelets trust for the API server's client
        certificate, and that issues their serving certificates (``issue_kubelet_cert``)."""
        return self.workdir / "kubelet-pki" / "ca.crt", self.workdir / "kubelet-pki" / "ca.key"

    def issue_kubelet_serving_cert(self, cert: Path, key: Path, ip: str) -> None:
        """A serving certificate for a kubelet at ``ip``, which the API server verifies."""
        ca_cert, ca_key = self.kubelet_ca
        pki.issue(
            ca_cert, ca_key, cert, key, common_name=f"kubelet@{ip}", ip_addresses=(ip,), server=True
        )

    def __enter__(self) -> ControlPlane:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ensure_binaries()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.admin_token = pki.write_token_file(self.workdir / "tokens.csv")
        sa_key, sa_pub = self.workdir / "sa.key", self.workdir / "sa.pub"
        pki.write_service_account_keys(sa_key, sa_pub)

        kubelet_pki = self.workdir / "kubelet-pki"
        kubelet_pki.mkdir(exist_ok=True)
        ca_cert, ca_key = self.kubelet_ca
        pki.write_ca(ca_cert, ca_key, "sagemaker-operator-test-kubelet-ca")
        client_cert, client_key = kubelet_pki / "apiserver.crt", kubelet_pki / "apiserver.key"
        pki.issue(ca_cert, ca_key, client_cert, client_key, common_name=KUBELET_CLIENT_USER)

        etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                "--name=local",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=local=http://127.0.0.1:{peer_port}",
                "--unsafe-no-fsync",  # throw-away data: durability costs seconds per test run
                "--log-level=warn",
            ],
        )
        self.server = f"https://127.0.0.1:{api_port}"
        self._apiserver_command = [
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={api_port}",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={sa_pub}",
            f"--service-account-signing-key-file={sa_key}",
            f"--token-auth-file={self.workdir / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            # The default reconciler refuses a loopback advertise address; no Service needs it.
            "--endpoint-reconciler-type=none",
            # No volume is ever claimed: nothing would answer a default storage class.
            "--disable-admission-plugins=DefaultStorageClass",
            # kubectl logs/exec: the API server dials the kubelet at the node's InternalIP
            # (127.0.0.1; the default order tries the host name first, which resolves
            # nowhere), with a client certificate the kubelet trusts, and verifies the
            # kubelet's serving certificate against the same CA.
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-client-certificate={client_cert}",
            f"--kubelet-client-key={client_key}",
            f"--kubelet-certificate-authority={ca_cert}",
            *self.apiserver_args,
        ]
        self._spawn("kube-apiserver", self._apiserver_command)
        self._wait_ready()
        write_kubeconfig(
            self.kubeconfig,
            server=self.server,
            ca_file=self.ca_file,
            token=self.admin_token,
            user=pki.ADMIN_USER,
        )
        if self.with_controller_manager:
            self._spawn(
                "kube-controller-manager",
                [
                    f"--kubeconfig={self.kubeconfig}",
                    f"--authentication-kubeconfig={self.kubeconfig}",
                    f"--authorization-kubeconfig={self.kubeconfig}",
                    # Namespaces finish deleting, owner references cascade, aggregated
                    # roles fill; for pods: Deployments -> ReplicaSets -> Pods, each
                    # namespace's `default` ServiceAccount and `kube-root-ca.crt` (the CA
                    # in every projected token volume), pods of a vanished node removed.
                    "--controllers=namespace,garbagecollector,clusterrole-aggregation-controller,"
                    "deployment-controller,replicaset-controller,serviceaccount-controller,"
                    "root-ca-certificate-publisher-controller,pod-garbage-collector-controller,"
                    # ... and a Ready node loses its `not-ready` taint, so pods schedule.
                    "node-lifecycle-controller",
                    f"--root-ca-file={self.ca_file}",
                    "--leader-elect=false",
                    f"--secure-port={free_port()}",
                    "--bind-address=127.0.0.1",
                ],
            )

    def stop(self) -> None:
        for process in reversed(self._processes):
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in reversed(self._processes):
            _reap(process, timeout=15)
        self._processes.clear()

    def restart_apiserver(self, down_seconds: float = 0.0) -> None:
        """Stop kube-apiserver and start it again on the same port, over the same etcd data.

        Clients see their watches end and their requests refused while it is down: the
        fault a control-plane upgrade or a crashed API server causes in a cluster.
        """
        (process,) = [p for p in self._processes if p.name == "kube-apiserver"]
        process.popen.terminate()
        _reap(process, timeout=30)
        self._processes.remove(process)
        time.sleep(down_seconds)  # an outage of a chosen length, not waiting on anything
        self._spawn("kube-apiserver", self._apiserver_command, append_log=True)
        self._wait_ready()

    def logs(self, lines: int = 40) -> str:
        """The last lines of every server's log, for a failing test's report."""
        return "\n\n".join(
            f"--- {p.name} ({p.log_path}) ---\n{p.tail(lines)}" for p in self._processes
        )

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        kubeconfig: Path | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the built kubectl; on failure with ``check`` the error carries stderr."""
        command = [
            str(self.bin_dir / "kubectl"),
            f"--kubeconfig={kubeconfig or self.kubeconfig}",
            # Discovery cached per control plane: ~/.kube/cache is keyed by host:port, and
            # loopback ports are reused by later control planes with other resources.
            f"--cache-dir={self.workdir / 'kubectl-cache'}",
        ]
        result = subprocess.run(
            [*command, *args], input=input, capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise KubectlError(result.returncode, result.args, result.stdout, result.stderr)
        return result

    def apply_crds(self, directory: Path) -> None:
        """Apply every file of ``directory`` (the repository's ``crds/``) server-side, then wait
        until each CRD among them is Established.

        NB: the immutable-fields policy is in force once the API server's admission plugin
        has seen it, a moment after the apply; a test that needs it waits on a refusal.
        """
        paths = sorted(directory.glob("*.yaml"))
        for path in paths:
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path))
        for path in paths:
            applied = yaml.safe_load(path.read_text())
            if applied["kind"] == "CustomResourceDefinition":
                self.wait_established(applied["metadata"]["name"])

    def wait_established(self, crd: str, timeout: float = 60.0) -> None:
        """Wait until a CRD serves its resource (``crd``: ``NAME`` or any ``TYPE/NAME`` form).

        NB: ``kubectl wait --for=condition=Established`` right after the apply fails at once
        ("accessor error") while the new object has no status yet, instead of waiting.
        """
        name = crd if "/" in crd else f"crd/{crd}"  # NAME, crd/NAME or kind.group/NAME
        deadline = time.monotonic() + timeout
        while True:
            result = self.kubectl(
                "wait",
                "--for=condition=Established",
                name,
                f"--timeout={timeout:.0f}s",
                check=False,
            )
            if result.returncode == 0:
                return
            if "accessor error" not in result.stderr or time.monotonic() > deadline:
                raise KubectlError(result.returncode, result.args, result.stdout, result.stderr)
            time.sleep(0.2)  # the API server has not written the CRD's status yet

    def service_account_kubeconfig(
        self, namespace: str, name: str, path: Path, *, create: bool = True
    ) -> Path:
        """A kubeconfig that authenticates as ServiceAccount ``namespace/name`` (TokenRequest)."""
        if create:
            self.kubectl("create", "serviceaccount", name, "-n", namespace, check=False)
        token = self.kubectl(
            "create", "token", name, "-n", namespace, "--duration=2h"
        ).stdout.strip()
        return write_kubeconfig(
            path,
            server=self.server,
            ca_file=self.ca_file,
            token=token,
            user=f"system:serviceaccount:{namespace}:{name}",
            namespace=namespace,
        )

    def _spawn(self, name: str, args: Sequence[str], *, append_log: bool = False) -> None:
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("ab" if append_log else "wb")
        popen = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C in pytest must not kill etcd before the API server
        )
        self._processes.append(_Process(name, popen, log_path, log_file))

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # the serving cert does not exist until it is ready
        request = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        last_error: Any = None
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.popen.poll() is not None:
                    raise ControlPlaneError(f"{process.name} exited early\n{self.logs()}")
            try:
                with urllib.request.urlopen(request, context=context, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:
                last_error = error
            time.sleep(0.2)  # polling a server that is starting: no event to wait on
        raise ControlPlaneError(f"kube-apiserver not ready: {last_error}\n{self.logs()}")
