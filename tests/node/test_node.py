"""The test node is a real one: the scheduler binds pods, containerd runs them, the bridge gives
them addresses, the API server serves their logs through the kubelet, and teardown leaves
nothing behind."""

from __future__ import annotations

import http.server
import ipaddress
import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sagemaker_operator.devstack import images
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.devstack.node import Node
from tests.node.pods import apply, pod
from tests.plugins.controlplane import Kubectl

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="session")
def python_image(cluster_node: Node) -> images.Image:
    """The Python base (Debian packages), imported into the node: a small image for probes."""
    image = images.python_base()
    cluster_node.import_image(image.archive, image.ref)
    return image


def get(kubectl: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(
        kubectl("get", kind, name, "-n", namespace, "-o", "json").stdout
    )
    return found


IN_CLUSTER = """
import json, os, socket, ssl, urllib.request
secrets = "/var/run/secrets/kubernetes.io/serviceaccount"
env = os.environ
token = open(secrets + "/token").read()
context = ssl.create_default_context(cafile=secrets + "/ca.crt")
service = "%s:%s" % (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"])
for url in ("https://%s/api" % service, "https://kubernetes.default.svc/api"):
    request = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        kind = json.load(response)["kind"]
        print(json.dumps({"url": url, "status": response.status, "kind": kind}))
print(json.dumps({"kubernetes.default.svc": socket.gethostbyname("kubernetes.default.svc")}))
try:
    print(json.dumps({"example.org": socket.gethostbyname("example.org")}))
except OSError as error:
    print(json.dumps({"example.org": type(error).__name__}))
"""


def test_a_scheduled_pod_runs_reaches_the_api_server_in_cluster_and_its_logs_are_served(
    cluster_node: Node, python_image: images.Image, kubectl: Kubectl, namespace: str
) -> None:
    """No nodeName: the scheduler binds it. The pod dials the `kubernetes` Service, by its
    address and by its DNS name, with its projected ServiceAccount token and the published
    root CA, as any in-cluster client does; names outside the cluster do not resolve;
    ``kubectl logs`` goes API server -> kubelet (client certificate, webhook authorization)."""
    apply(kubectl, namespace, pod("in-cluster", python_image.ref, IN_CLUSTER))
    kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/in-cluster", "-n", namespace,
            "--timeout=110s")  # fmt: skip
    found = get(kubectl, namespace, "pod", "in-cluster")
    assert found["spec"]["nodeName"] == cluster_node.name
    lines = kubectl("logs", "in-cluster", "-n", namespace).stdout.splitlines()
    assert [json.loads(line) for line in lines] == [
        {"url": "https://10.0.0.1:443/api", "status": 200, "kind": "APIVersions"},
        {"url": "https://kubernetes.default.svc/api", "status": 200, "kind": "APIVersions"},
        {"kubernetes.default.svc": "10.0.0.1"},
        {"example.org": "gaierror"},  # the cluster DNS has no upstream: nothing leaves
    ]


SERVE = """
import http.server, os, urllib.request
with urllib.request.urlopen(os.environ["HOST_URL"], timeout=10) as response:
    print("host said:", response.read().decode(), flush=True)
routes = [line.split()[1] for line in open("/proc/net/route").read().splitlines()[1:]]
print("default route:", "00000000" in routes, flush=True)
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("pod %s says hello" % os.environ["POD_NAME"]).encode()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("0.0.0.0", 8000), Hello).serve_forever()
"""


@pytest.fixture
def host_server() -> Iterator[int]:
    """An HTTP server on the host's loopback that answers a fixed word."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"loopback-service")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_pods_get_bridge_addresses_reach_exposed_host_ports_and_nothing_else(
    cluster_node: Node,
    python_image: images.Image,
    kubectl: Kubectl,
    namespace: str,
    host_server: int,
) -> None:
    """The pod has an address in the node's pod range, answers the host on it (and the
    kubelet's readiness probe), reaches a loopback service the node exposed at the bridge
    gateway, and has no default route: its traffic cannot leave the machine."""
    host_url = f"http://{cluster_node.expose(host_server)}/"
    manifest = pod(
        "web",
        python_image.ref,
        SERVE,
        container={
            "env": [
                {"name": "HOST_URL", "value": host_url},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            ],
            "ports": [{"containerPort": 8000}],
            "readinessProbe": {"httpGet": {"path": "/", "port": 8000}, "periodSeconds": 1},
        },
    )
    apply(kubectl, namespace, manifest)
    kubectl("wait", "--for=condition=Ready", "pod/web", "-n", namespace, "--timeout=110s")
    pod_ip = get(kubectl, namespace, "pod", "web")["status"]["podIP"]
    assert ipaddress.ip_address(pod_ip) in ipaddress.ip_network(cluster_node.pod_cidr)
    with urllib.request.urlopen(f"http://{pod_ip}:8000/", timeout=10) as response:
        assert response.read() == b"pod web says hello"
    logs = kubectl("logs", "web", "-n", namespace).stdout.splitlines()
    assert logs[:2] == ["host said: loopback-service", "default route: False"]


def _leftovers(node: Node, pod_netns: list[Path]) -> dict[str, Any]:
    workdir = str(node.workdir.resolve())
    processes = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if workdir in cmdline:
                processes.append(cmdline)
    mounts = [
        line.split()[4]
        for line in Path("/proc/self/mountinfo").read_text().splitlines()
        if line.split()[4].startswith(workdir)
    ]
    rules = subprocess.run(["iptables-save"], capture_output=True, text=True, check=True).stdout
    logs = Path("/var/log/containers")
    links = [str(p) for p in logs.iterdir() if p.is_symlink() and workdir in str(p.readlink())]
    return {
        "processes": processes,
        "mounts": mounts,
        "netns": [str(p) for p in pod_netns if p.exists()],
        "bridge": Path(f"/sys/class/net/{node.bridge}").exists(),
        "cgroups": [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/{node.cgroup_name}")],
        "iptables": [line for line in rules.splitlines() if node.bridge.upper() in line],
        "log_links": links,
    }


def test_a_node_stops_without_leaving_anything_behind(
    control_plane: ControlPlane,
    cluster_node: Node,
    python_image: images.Image,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
) -> None:
    """A second node (no scheduler of its own) runs a pod, then stops: no process, mount,
    network namespace, bridge, cgroup or iptables rule of it is left, and its Node is gone.
    The session's node is stopped by the same code."""
    with Node(control_plane, tmp_path / "node", name="smop-teardown", scheduler=False) as node:
        node.import_image(python_image.archive, python_image.ref)
        manifest = pod("sleeper", python_image.ref, "import time; time.sleep(3600)")
        manifest["spec"]["nodeName"] = node.name
        apply(kubectl, namespace, manifest)
        kubectl("wait", "--for=condition=Ready", "pod/sleeper", "-n", namespace, "--timeout=110s")
        pod_netns = node._sandbox_netns()
        assert pod_netns, "the running pod has a network namespace"
        running = _leftovers(node, pod_netns)
        assert running["processes"]
        assert running["bridge"]
        assert running["cgroups"]
        assert running["iptables"]
        assert running["mounts"]
        assert running["log_links"]
    assert _leftovers(node, pod_netns) == {
        "processes": [],
        "mounts": [],
        "netns": [],
        "bridge": False,
        "cgroups": [],
        "iptables": [],
        "log_links": [],
    }
    assert kubectl("get", "node", node.name, "--ignore-not-found", "-o", "name").stdout == ""
