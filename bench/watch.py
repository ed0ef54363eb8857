"""A Kubernetes watch on the TrainingJobs, recording when each status change arrived.

The benchmark's view of "the resource's status showed it": the wall-clock time at which the
watch delivered an object whose status carries a given SageMaker status. It runs in a thread
of the benchmark process (not the operator's), relists on a broken watch (an API-server
restart), and keeps only the few status members the lag computation needs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client as k8s
from kubernetes import watch as k8s_watch

from sagemaker_operator import names


@dataclass(frozen=True)
class Seen:
    at: float
    secondary: str | None
    status: str | None
    phase: str | None
    arn: bool


@dataclass
class StatusWatch:
    api: k8s.ApiClient
    namespace: str
    seen: dict[str, list[Seen]] = field(default_factory=dict)  # resource name -> arrivals
    uids: dict[str, str] = field(default_factory=dict)  # resource name -> uid
    gone: dict[str, float] = field(default_factory=dict)  # resource name -> DELETED arrival
    breaks: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> StatusWatch:
        self._thread = threading.Thread(target=self._run, name="status-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _record(self, kind: str, obj: dict[str, Any], at: float) -> None:
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        item = Seen(
            at,
            status.get("secondaryStatus"),
            status.get("trainingJobStatus"),
            status.get("phase"),
            bool(status.get("trainingJobArn")),
        )
        with self._lock:
            self.uids[name] = obj["metadata"]["uid"]
            history = self.seen.setdefault(name, [])
            if _differs(history, item):
                history.append(item)
            if kind == "DELETED":
                self.gone[name] = at

    def latest(self) -> dict[str, Seen]:
        with self._lock:
            return {name: history[-1] for name, history in self.seen.items() if history}

    def alive(self) -> set[str]:
        with self._lock:
            return set(self.seen) - set(self.gone)

    def _run(self) -> None:
        objects = k8s.CustomObjectsApi(self.api)
        while not self._stop.is_set():
            try:
                listed: Any = objects.list_namespaced_custom_object(
                    names.GROUP, names.VERSION, self.namespace, names.PLURAL
                )
                now = time.time()
                present = {obj["metadata"]["name"] for obj in listed["items"]}
                for obj in listed["items"]:
                    self._record("LISTED", obj, now)
                with self._lock:
                    # Deleted while no watch ran (a relist after a timeout or a restart): no
                    # DELETED event will ever come for these.
                    for name in set(self.seen) - present - set(self.gone):
                        self.gone[name] = now
                version = listed["metadata"]["resourceVersion"]
                stream = k8s_watch.Watch().stream(
                    objects.list_namespaced_custom_object,
                    names.GROUP,
                    names.VERSION,
                    self.namespace,
                    names.PLURAL,
                    resource_version=version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=300,
                )
                for event in stream:
                    at = time.time()
                    if self._stop.is_set():
                        return
                    if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                        self._record(event["type"], event["object"], at)
            except Exception:
                # An API-server restart ends the watch (or a 410 Gone): relist and go on.
                self.breaks += 1
                time.sleep(0.5)  # a server that is restarting: nothing to wait on


def _differs(history: list[Seen], item: Seen) -> bool:
    if not history:
        return True
    last = history[-1]
    return (last.secondary, last.status, last.phase, last.arn) != (
        item.secondary,
        item.status,
        item.phase,
        item.arn,
    )
