"""A real Kubernetes node for the test control plane: containerd, runc, CNI, kubelet, scheduler.

Debian's ``containerd`` (1.6), ``runc`` and ``containernetworking-plugins`` (installed by
``tests/node/install-packages.sh`` when missing), and a ``kubelet`` and ``kube-scheduler``
built by ``tests/controlplane/build.sh`` from the control plane's own pinned
``k8s.io/kubernetes``. Everything lives in one work directory; nothing is pulled (images are
built here and imported, :meth:`Node.import_image`). docs/development.md explains each setting;
the ones this VM needs and a stock node would not:

- containerd's CRI with ``restrict_oom_score_adj = true``: this VM refuses a negative
  ``oom_score_adj``, and the CRI asks -998 for every sandbox (runc failed with "can't get
  final child's PID from pipe: EOF");
- the ``native`` snapshotter (no overlay mounts needed); runc's state in the work directory;
- the kubelet with ``cgroupDriver: cgroupfs`` and ``failCgroupV1: false`` (cgroup v1 only
  here), its pods under a cgroup root of its own (``/smop-N``), so two nodes on one machine
  (two test sessions) never clean up each other's pods.

**Network.** Pods get addresses from a bridge ``smopN`` (``10.244.N.0/24``, N the first free
index; the bridge and CIDR are claimed by creating the bridge) through the ``bridge`` and
``host-local`` plugins. A pod has routes only to its subnet and to the service range, never
a default route, and the host drops anything a pod sends past the bridge (``SMOPN-FWD``): pod
traffic never leaves the machine. Two host services are reached from pods by DNAT rules on
the bridge (``SMOPN-DNAT``, with ``route_localnet`` so they may point at loopback):

- ``10.0.0.1:443`` (the ``kubernetes`` Service, what in-cluster clients dial) to the API
  server on ``127.0.0.1``: the one rule kube-proxy would write here (kube-proxy itself cannot:
  an Endpoints address may not be loopback, and the API server listens on loopback only);
- :meth:`Node.expose`: ``GATEWAY:PORT`` to ``127.0.0.1:PORT`` (the SageMaker emulator).

Pods resolve names through the node's cluster DNS, a ``dnsmasq`` on the gateway that knows
``kubernetes.default.svc[.cluster.local]`` (kopf's in-cluster login dials that name) and no
upstream: no pod's lookup leaves the machine.

The API server reaches the kubelet at ``127.0.0.1`` (``kubectl logs``): the kubelet serves a
certificate from the control plane's kubelet CA and accepts the API server's client
certificate from it, authorizing it by webhook (``system:kubelet-api-admin``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from sagemaker_operator.devstack import controlplane, images
from sagemaker_operator.devstack.controlplane import ControlPlane, _Process, _reap, free_port

BUILD_SCRIPT = controlplane.BUILD_SCRIPT
NODE_BINARIES = ("kubelet", "kube-scheduler")
CNI_BIN_DIR = Path("/usr/lib/cni")
CGROUP_ROOT = Path("/sys/fs/cgroup")
NETNS_DIR = Path("/var/run/netns")
BRIDGE_PREFIX = "smop"
CLUSTER_DOMAIN = "cluster.local"


class NodeError(RuntimeError):
    """The node did not come up (the message has its logs) or a node command failed."""


def ensure_node_binaries() -> Path:
    directory = controlplane.ensure_binaries()
    if not all((directory / name).is_file() for name in NODE_BINARIES):
        subprocess.run(["bash", str(BUILD_SCRIPT), "node"], check=True)
    return directory


def ensure_packages() -> None:
    needed = ("containerd", "ctr", "runc", "iptables", "dnsmasq")
    if not all(_which(tool) for tool in needed) or not (CNI_BIN_DIR / "bridge").exists():
        subprocess.run(["bash", str(images.INSTALL_PACKAGES)], check=True)


def _which(tool: str) -> bool:
    return any(
        (Path(directory) / tool).exists()
        for directory in [*os.environ.get("PATH", "").split(":"), "/usr/sbin", "/sbin"]
    )


def _run(
    *command: str, check: bool = True, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout
    )
    if check and result.returncode != 0:
        raise NodeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    return result


def normalize_image_name(name: str) -> str:
    """The full name Kubernetes and containerd use for ``name`` (``x:1`` ->
    ``docker.io/library/x:1``), so an imported image matches a pod's ``image``."""
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        domain, remainder = first, rest
    else:
        domain, remainder = "docker.io", name
        if "/" not in remainder:
            remainder = f"library/{remainder}"
    last = remainder.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        remainder += ":latest"
    return f"{domain}/{remainder}"


def _claim_bridge() -> tuple[int, str]:
    """Create the first free ``smopN`` bridge whose ``10.244.N.0/24`` is unrouted."""
    for index in range(1, 255):
        name = f"{BRIDGE_PREFIX}{index}"
        if _run("ip", "route", "show", f"10.244.{index}.0/24", check=False).stdout.strip():
            continue
        if _run("ip", "link", "add", name, "type", "bridge", check=False).returncode == 0:
            return index, name
    raise NodeError("no free smopN bridge / 10.244.N.0/24 range on this machine")


@dataclass
class Node:
    """One node of ``plane``, in ``workdir``; use as a context manager.

    ``name`` is the Node's name; pods reach the host at :attr:`gateway`. Import images with
    :meth:`import_image`, make a loopback port reachable from pods with :meth:`expose`.
    """

    plane: ControlPlane
    workdir: Path
    name: str = "smop-node"
    startup_timeout: float = 120.0
    scheduler: bool = True  # one scheduler per control plane: a second node goes without
    index: int = 0
    bridge: str = ""
    kubelet_port: int = 0
    _processes: list[_Process] = field(default_factory=list)
    _undo: list[Sequence[str]] = field(default_factory=list)  # commands, run in reverse
    _cgroups: list[Path] = field(default_factory=list)
    _forward_before: str = ""
    _imported: set[str] = field(default_factory=set)

    # --- addresses ------------------------------------------------------------------------

    @property
    def pod_cidr(self) -> str:
        return f"10.244.{self.index}.0/24"

    @property
    def gateway(self) -> str:
        """The host's address on the pods' bridge: what a pod dials to reach :meth:`expose`."""
        return f"10.244.{self.index}.1"

    @property
    def socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def cgroup_name(self) -> str:
        return f"{BRIDGE_PREFIX}-{self.index}"

    # --- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> Node:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        ensure_packages()
        bin_dir = ensure_node_binaries()
        pause = images.pause_image()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text().strip()
        self.index, self.bridge = _claim_bridge()
        self._undo.append(("ip", "link", "delete", self.bridge))
        self._network()
        self._make_cgroups()
        self._start_dns()
        self._start_containerd(pause)
        self.import_image(pause.archive, pause.ref)
        self._start_kubelet(bin_dir)
        if self.scheduler:
            self._start_scheduler(bin_dir)
        self._wait_ready()

    def _network(self) -> None:
        bridge, gateway = self.bridge, self.gateway
        _run("ip", "address", "add", f"{gateway}/24", "dev", bridge)
        _run("ip", "link", "set", bridge, "up")
        # DNAT to 127.0.0.1 needs route_localnet on the interface the packets come in by.
        Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet").write_text("1")
        tag = bridge.upper()
        forward, dnat = f"{tag}-FWD", f"{tag}-DNAT"
        # Nothing a pod sends goes past the bridge (the CNI bridge plugin turns on
        # ip_forward, which would route it out of the machine otherwise).
        self._iptables("filter", "-N", forward, undo=("-X", forward))
        self._iptables("filter", "-A", forward, "-j", "DROP", undo=("-F", forward))
        for direction in (("-i", bridge, "!", "-o", bridge), ("-o", bridge, "!", "-i", bridge)):
            rule = ("FORWARD", *direction, "-j", forward)
            self._iptables("filter", "-I", *rule, undo=("-D", *rule))
        self._iptables("nat", "-N", dnat, undo=("-X", dnat))
        self._iptables("nat", "-A", "PREROUTING", "-i", bridge, "-j", dnat,
                       undo=("-F", dnat))  # fmt: skip
        self._undo.append(
            ("iptables", "-w", "-t", "nat", "-D", "PREROUTING", "-i", bridge, "-j", dnat)
        )
        api_port = self.plane.server.rsplit(":", 1)[1]
        self._dnat(controlplane.KUBERNETES_SERVICE_IP, 443, int(api_port))
        conf_dir = self.workdir / "cni" / "net.d"
        conf_dir.mkdir(parents=True, exist_ok=True)
        conflist = {
            "cniVersion": "1.0.0",
            "name": "smop",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": bridge,
                    "isGateway": True,
                    "ipMasq": False,
                    "hairpinMode": True,
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": self.pod_cidr, "gateway": gateway}]],
                        # No default route: a pod reaches its subnet and the service range.
                        "routes": [{"dst": controlplane.SERVICE_CIDR}],
                        "dataDir": str(self.workdir / "cni" / "ipam"),
                    },
                }
            ],
        }
        (conf_dir / "10-smop.conflist").write_text(json.dumps(conflist, indent=2))

    def _iptables(self, table: str, *args: str, undo: Sequence[str]) -> None:
        _run("iptables", "-w", "-t", table, *args)
        self._undo.append(("iptables", "-w", "-t", table, *undo))

    def _dnat(self, address: str, port: int, to_port: int) -> None:
        rule = (
            f"{self.bridge.upper()}-DNAT", "-d", address, "-p", "tcp", "--dport", str(port),
            "-j", "DNAT", "--to-destination", f"127.0.0.1:{to_port}",
        )  # fmt: skip
        _run("iptables", "-w", "-t", "nat", "-A", *rule)

    def expose(self, port: int) -> str:
        """Make ``127.0.0.1:port`` on the host reachable from pods; returns ``host:port``."""
        self._dnat(self.gateway, port, port)
        return f"{self.gateway}:{port}"

    def _start_dns(self) -> None:
        """The pods' cluster DNS: dnsmasq on the gateway, answering the `kubernetes` Service's
        names (kopf's in-cluster login dials ``kubernetes.default.svc``), NXDOMAIN for the
        rest of the cluster domain, and refusing everything else (no upstream: pods resolve
        nothing outside the cluster)."""
        service = controlplane.KUBERNETES_SERVICE_IP
        self._spawn(
            "dnsmasq",
            [
                "dnsmasq",
                "--keep-in-foreground",
                "--log-facility=-",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                f"--listen-address={self.gateway}",
                f"--address=/kubernetes.default.svc.{CLUSTER_DOMAIN}/{service}",
                f"--address=/kubernetes.default.svc/{service}",
                f"--local=/{CLUSTER_DOMAIN}/",
            ],
        )

    def _make_cgroups(self) -> None:
        for controller in sorted(CGROUP_ROOT.iterdir()):
            if controller.is_dir() and not controller.is_symlink() and controller.name != "unified":
                path = controller / self.cgroup_name
                path.mkdir(exist_ok=True)
                self._cgroups.append(path)

    def _start_containerd(self, pause: images.Image) -> None:
        root = self.workdir / "containerd"
        root.mkdir(exist_ok=True)
        registry = root / "hosts"
        # Nothing is ever pulled: unqualified names (docker.io) go to a closed loopback port.
        for host in ("docker.io", "_default"):
            (registry / host).mkdir(parents=True, exist_ok=True)
            (registry / host / "hosts.toml").write_text('server = "http://127.0.0.1:9"\n')
        config = f"""\
version = 2
root = "{root / "root"}"
state = "{root / "state"}"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.overlayfs", "io.containerd.internal.v1.tracing",
]

[grpc]
  address = "{self.socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause.ref}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{root / "runc"}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{self.workdir / "cni" / "net.d"}"
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{registry}"
"""
        (root / "config.toml").write_text(config)
        self._spawn("containerd", ["containerd", f"--config={root / 'config.toml'}"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            self._check_alive()
            if self.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return
            time.sleep(0.1)  # a starting daemon: nothing to wait on but its socket
        raise NodeError(f"containerd did not start\n{self.logs()}")

    def ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """containerd's ``ctr`` on this node, in the CRI's ``k8s.io`` namespace."""
        return _run("ctr", f"--address={self.socket}", "--namespace=k8s.io", *args,
                    check=check, timeout=600)  # fmt: skip

    def import_image(self, oci_archive: Path, name: str) -> str:
        """Import an OCI archive (one image) into the node as ``name``; returns the full name
        that a pod's ``image: name`` resolves to (use ``imagePullPolicy: Never``)."""
        full = normalize_image_name(name)
        if full in self._imported:
            return full
        out = self.ctr("images", "import", "--snapshotter=native", str(oci_archive)).stdout
        found = re.findall(r"^unpacking (\S+) \(", out, flags=re.MULTILINE)
        if not found:
            raise NodeError(f"ctr imported no named image from {oci_archive}: {out}")
        if found[0] != full:
            self.ctr("images", "tag", "--force", found[0], full)
        self._imported.add(full)
        return full

    def _start_kubelet(self, bin_dir: Path) -> None:
        kubelet_dir = self.workdir / "kubelet"
        kubelet_dir.mkdir(exist_ok=True)
        cert, key = kubelet_dir / "serving.crt", kubelet_dir / "serving.key"
        self.plane.issue_kubelet_serving_cert(cert, key, self.gateway)
        ca_cert, _ = self.plane.kubelet_ca
        # The API server's client certificate may do anything a kubelet serves (logs, exec).
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": "smop-kube-apiserver-kubelet-client"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "system:kubelet-api-admin",
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": controlplane.KUBELET_CLIENT_USER,
                }
            ],
        }
        self.plane.kubectl("apply", "-f", "-", input=json.dumps(binding))
        self.kubelet_port = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # The node's address is the bridge's: the kubelet refuses a loopback node IP.
            "address": self.gateway,
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": free_port(),
            "tlsCertFile": str(cert),
            "tlsPrivateKeyFile": str(key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(ca_cert)},
            },
            "authorization": {"mode": "Webhook"},
            "containerRuntimeEndpoint": f"unix://{self.socket}",
            # cgroup v1 only on this VM (the kubelet refuses v1 unless told), no systemd.
            "cgroupDriver": "cgroupfs",
            "failCgroupV1": False,
            "cgroupRoot": f"/{self.cgroup_name}",
            "failSwapOn": False,
            "podLogsDir": str(self.workdir / "pod-logs"),
            "volumePluginDir": str(kubelet_dir / "volume-plugins"),
            # The node's dnsmasq is the cluster DNS; the host's resolvers are never handed
            # to pods (their names would be looked up outside the machine).
            "clusterDNS": [self.gateway],
            "clusterDomain": CLUSTER_DOMAIN,
            "resolvConf": "",
            # The imported images are all there is: never garbage-collect them, and no
            # eviction for a disk that other work on the machine fills.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "evictionHard": {
                "memory.available": "100Mi",
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "nodefs.inodesFree": "1%",
            },
            "serializeImagePulls": False,
            "maxPods": 50,
            "nodeStatusReportFrequency": "10s",
        }
        config_path = kubelet_dir / "config.yaml"
        config_path.write_text(yaml.safe_dump(config))
        self._spawn(
            "kubelet",
            [
                str(bin_dir / "kubelet"),
                f"--config={config_path}",
                f"--kubeconfig={self.plane.kubeconfig}",
                f"--root-dir={kubelet_dir / 'root'}",
                f"--cert-dir={kubelet_dir / 'pki'}",
                f"--hostname-override={self.name}",
                f"--node-ip={self.gateway}",
                "--v=1",
            ],
        )

    def _start_scheduler(self, bin_dir: Path) -> None:
        kubeconfig = str(self.plane.kubeconfig)
        self._spawn(
            "kube-scheduler",
            [
                str(bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                f"--secure-port={free_port()}",
                "--bind-address=127.0.0.1",
            ],
        )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            got = self.plane.kubectl("get", "node", self.name, "-o", "json", check=False)
            if got.returncode == 0:
                conditions = json.loads(got.stdout)["status"].get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                    return
            time.sleep(0.5)  # the kubelet registers, then reports Ready: polled, no watch
        raise NodeError(f"node {self.name} not Ready after {self.startup_timeout}s\n{self.logs()}")

    def _check_alive(self) -> None:
        for process in self._processes:
            if process.popen.poll() is not None:
                raise NodeError(
                    f"{process.name} exited ({process.popen.returncode})\n{self.logs()}"
                )

    def _spawn(self, name: str, command: Sequence[str]) -> None:
        log_path = self.workdir / f"{name}.log"
        log_file = log_path.open("ab")
        popen = subprocess.Popen(
            list(command),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._processes.append(_Process(name, popen, log_path, log_file))

    def logs(self, lines: int = 40) -> str:
        """The last lines of containerd's, the kubelet's and the scheduler's logs."""
        return "\n\n".join(
            f"--- {p.name} ({p.log_path}) ---\n{p.tail(lines)}" for p in self._processes
        )

    # --- teardown -------------------------------------------------------------------------

    def stop(self) -> None:
        """Drain the node, stop everything, and leave no process, mount, netns, cgroup,
        iptables rule or interface behind."""
        by_name = {p.name: p for p in self._processes}
        if "kubelet" in by_name and by_name["kubelet"].popen.poll() is None:
            with contextlib.suppress(Exception):
                self._drain()
        for name in ("kube-scheduler", "kubelet", "dnsmasq"):
            if name in by_name:
                self._terminate(by_name[name])
        netns = self._sandbox_netns() if "containerd" in by_name else []
        if "containerd" in by_name:
            self._remove_containers()
            self._terminate(by_name["containerd"])
        self._kill_shims()
        self._unmount()
        for path in netns:
            if path.exists():
                _run("ip", "netns", "delete", path.name, check=False)
        with contextlib.suppress(Exception):
            self.plane.kubectl("delete", "node", self.name, "--ignore-not-found", "--wait=false")
        for command in reversed(self._undo):
            _run(*command, check=False)
        self._undo.clear()
        if self._cgroups:  # runc also makes ours under the hybrid `unified` hierarchy
            for path in CGROUP_ROOT.glob(f"*/{self.cgroup_name}"):
                _remove_cgroup(path)
        self._cgroups.clear()
        self._remove_container_log_links()
        if self._forward_before == "0" and not _other_bridges(self.bridge):
            Path("/proc/sys/net/ipv4/ip_forward").write_text("0")
        self._processes.clear()

    def _drain(self) -> None:
        self.plane.kubectl("cordon", self.name)
        self.plane.kubectl(
            "delete", "pods", "--all-namespaces", f"--field-selector=spec.nodeName={self.name}",
            "--grace-period=5", "--timeout=60s",
        )  # fmt: skip

    def _terminate(self, process: _Process) -> None:
        if process.popen.poll() is None:
            process.popen.send_signal(signal.SIGTERM)
        _reap(process, timeout=20)

    def _sandbox_netns(self) -> list[Path]:
        """The network namespaces of this node's pod sandboxes (containerd made them)."""
        found: list[Path] = []
        listing = self.ctr("containers", "list", "--quiet", check=False).stdout.split()
        for container in listing:
            info = self.ctr("containers", "info", container, check=False)
            if info.returncode != 0:
                continue
            spec = json.loads(info.stdout).get("Spec") or {}
            for namespace in spec.get("linux", {}).get("namespaces", []):
                path = namespace.get("path", "")
                if namespace.get("type") == "network" and path.startswith(f"{NETNS_DIR}/"):
                    found.append(Path(path))
        return sorted(set(found))

    def _remove_containers(self) -> None:
        for task in self.ctr("tasks", "list", "--quiet", check=False).stdout.split():
            self.ctr("tasks", "kill", "--signal=SIGKILL", task, check=False)
            self.ctr("tasks", "delete", "--force", task, check=False)
        for container in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
            self.ctr("containers", "delete", container, check=False)

    def _kill_shims(self) -> None:
        """Shims outlive containerd by design; ours name our socket on their command line."""
        marker = str(self.socket).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError):
                if marker in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)

    def _unmount(self) -> None:
        prefix = str(self.workdir.resolve()) + "/"
        mounts = [
            line.split()[4]
            for line in Path("/proc/self/mountinfo").read_text().splitlines()
            if line.split()[4].startswith(prefix)
        ]
        for target in reversed(mounts):
            _run("umount", "--lazy", target, check=False)

    def _remove_container_log_links(self) -> None:
        logs = str(self.workdir / "pod-logs")
        directory = Path("/var/log/containers")
        if directory.is_dir():
            for link in directory.iterdir():
                with contextlib.suppress(OSError):
                    if link.is_symlink() and os.readlink(link).startswith(logs):
                        link.unlink()


def _remove_cgroup(path: Path) -> None:
    """rmdir a cgroup tree bottom-up (after its processes have gone)."""
    if not path.is_dir():
        return
    for child in sorted(path.iterdir(), reverse=True):
        if child.is_dir():
            _remove_cgroup(child)
    deadline = time.monotonic() + 10
    while True:
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # a killed process leaves its cgroup a moment later


def _other_bridges(own: str) -> bool:
    return any(
        re.fullmatch(rf"{BRIDGE_PREFIX}\d+", link.name) and link.name != own
        for link in Path("/sys/class/net").iterdir()
    )


@contextlib.contextmanager
def running(plane: ControlPlane, workdir: Path, **options: object) -> Iterator[Node]:
    """``with running(plane, workdir) as node:`` a Ready node, torn down on exit."""
    with Node(plane, workdir, **options) as node:  # type: ignore[arg-type]
        yield node
