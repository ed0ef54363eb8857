"""What one status write costs the API server, with the CRD's CEL rules and without them.

The test control plane alone (no operator, no emulator): N TrainingJobs created as the
benches create them, then each one's status merge-patched ``--rounds`` times by 4 threads
through a ServiceAccount token (the operator's pool and its credentials), the transitions
growing a step a round as a job's do. Prints writes a second and the API server's CPU per
write. ``--rules`` installs the CRD as shipped, or without some of its ``x-kubernetes-
validations``: the API server evaluates the rules on ``spec`` on every status write too
(docs/performance.md), which is why the rules that compare with the old object live in the
immutable-fields admission policy (installed in every variant; it never matches a status
write). Figures, not a pass/fail: ``python -m bench.status_writes``.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from bench import scale, stack
from sagemaker_operator import names

# Which rules to leave out of the CRD: each takes a rule's CEL text.
LEFT_OUT: dict[str, Callable[[str], bool]] = {
    "shipped": lambda rule: False,
    "none": lambda rule: True,
    "no-regex": lambda rule: "matches(" in rule or "findAll(" in rule,
}
STEPS = ("Starting", "Downloading", "Training", "Uploading", "Completed")


def schemas(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping in a CRD document, the schema nodes among them."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from schemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from schemas(value)


def without_rules(crd: Any, leave_out: Callable[[str], bool]) -> None:
    for node in schemas(crd):
        kept = [r for r in node.get("x-kubernetes-validations", []) if not leave_out(r["rule"])]
        if kept:
            node["x-kubernetes-validations"] = kept
        else:
            node.pop("x-kubernetes-validations", None)


def status(index: int, steps: int) -> dict[str, Any]:
    name = f"job-{index:05d}"
    transitions = [
        {
            "status": step,
            "startTime": "2026-12-01T10:00:00Z",
            "statusMessage": f"{step}: " + "x" * 60,
        }
        for step in STEPS[:steps]
    ]
    return {
        "trainingJobName": name,
        "trainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "region": "us-east-1",
        "phase": "InProgress",
        "secondaryStatus": transitions[-1]["status"],
        "secondaryStatusTransitions": transitions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    kinds = sorted(LEFT_OUT)
    parser.add_argument("--rules", choices=kinds, nargs="+", default=kinds)
    parser.add_argument(
        "--watchers",
        type=int,
        default=0,
        help="watch streams on the resources during the writes (kopf's, the bench's...)",
    )
    args = parser.parse_args()
    for rules in args.rules:
        with tempfile.TemporaryDirectory(prefix="smop-writes-") as tmp:
            run(Path(tmp), rules, args.n, args.rounds, args.watchers)


def watching(api: k8s.ApiClient, seen: list[int]) -> None:
    """One watch stream on the bench's namespace, counting its events, till the plane stops."""
    objects = k8s.CustomObjectsApi(api)
    stream = k8s_watch.Watch().stream(
        objects.list_namespaced_custom_object,
        names.GROUP,
        names.VERSION,
        scale.NAMESPACE,
        names.PLURAL,
        timeout_seconds=3600,
    )
    try:
        for _ in stream:
            seen[0] += 1
    except Exception:  # the control plane went away at the end of the run
        return


def run(workdir: Path, rules: str, n: int, rounds: int, watchers: int = 0) -> None:
    with stack.control_plane(workdir / "controlplane") as plane:
        apiserver = plane.pid("kube-apiserver")
        installed = workdir / "crds"
        installed.mkdir()
        for path in sorted((stack.REPO / "crds").glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            without_rules(crd, LEFT_OUT[rules])
            (installed / path.name).write_text(yaml.safe_dump(crd))
        plane.apply_crds(installed)
        plane.kubectl("create", "namespace", scale.NAMESPACE)
        kubeconfig = stack.operator_kubeconfig(plane, workdir / "operator.kubeconfig")
        admin_conf = k8s.Configuration()
        k8s_config.load_kube_config(str(plane.kubeconfig), client_configuration=admin_conf)
        admin_conf.connection_pool_maxsize = 16
        cpu, started = stack.ProcessStats.of(apiserver).cpu_seconds, time.monotonic()
        scale.create_all(k8s.ApiClient(admin_conf), scale.RunConfig(n, "ours", workdir))
        report(rules, "create", n, started, cpu, apiserver)
        conf = k8s.Configuration()
        k8s_config.load_kube_config(str(kubeconfig), client_configuration=conf)
        conf.connection_pool_maxsize = 4
        objects = k8s.CustomObjectsApi(k8s.ApiClient(conf))
        seen = [0]
        for _ in range(watchers):
            threading.Thread(
                target=watching, args=(k8s.ApiClient(admin_conf), seen), daemon=True
            ).start()
        label = rules if not watchers else f"{rules}+{watchers}w"
        for round_ in range(rounds):
            steps = min(round_ + 1, len(STEPS))

            def write(index: int, steps: int = steps) -> None:
                objects.patch_namespaced_custom_object_status(
                    names.GROUP,
                    names.VERSION,
                    scale.NAMESPACE,
                    names.PLURAL,
                    f"job-{index:05d}",
                    {"status": status(index, steps)},
                )

            cpu, started = stack.ProcessStats.of(apiserver).cpu_seconds, time.monotonic()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(write, range(n)))
            report(label, f"status write {round_ + 1}", n, started, cpu, apiserver)
        if watchers:
            print(f"rules={label:<13} watch events received: {seen[0]}", flush=True)


def report(rules: str, what: str, n: int, started: float, cpu: float, apiserver: int) -> None:
    seconds = time.monotonic() - started
    used = stack.ProcessStats.of(apiserver).cpu_seconds - cpu
    print(
        f"rules={rules:<13} {what:<15} {n / seconds:6.1f}/s  "
        f"API server CPU {1000 * used / n:5.1f} ms each",
        flush=True,
    )


if __name__ == "__main__":
    main()
