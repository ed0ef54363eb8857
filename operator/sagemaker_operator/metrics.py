"""Prometheus metrics of the operator, served on ``--metrics-port`` at ``/metrics``.

Names follow Prometheus conventions (``_total`` counters, base units). Label values are
bounded: operations, outcomes, regions and SageMaker statuses, never job or resource names.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

SAGEMAKER_CALLS = Counter(
    "sagemaker_operator_sagemaker_calls_total",
    "SageMaker API calls by operation and outcome (ok, or the error code).",
    ["region", "operation", "outcome"],
)
SAGEMAKER_THROTTLES = Counter(
    "sagemaker_operator_sagemaker_throttles_total",
    "SageMaker calls refused with a throttling error.",
    ["region", "operation"],
)
RETRIES = Counter(
    "sagemaker_operator_retries_total",
    "Handler retries scheduled after a transient SageMaker error.",
    ["handler"],
)
SUPERSEDED_DECISIONS = Counter(
    "sagemaker_operator_superseded_decisions_total",
    "Handler decisions dropped unwritten because the resource's status was newer than the "
    "copy kopf handed the handler; each is made again on a newer copy.",
    ["handler"],
)
RECONCILE_ERRORS = Counter(
    "sagemaker_operator_reconcile_errors_total",
    "Reconciliation errors by step (create, update, delete, poll) and kind (transient,"
    " retried; permanent, refused by SageMaker and reported in the status).",
    ["step", "kind"],
)
JOBS = Gauge(
    "sagemaker_operator_jobs",
    "Training jobs owned by this operator, by region and SageMaker status.",
    ["region", "status"],
)
STATUS_LAG = Histogram(
    "sagemaker_operator_status_lag_seconds",
    "From SageMaker's LastModifiedTime of a change to the resource's status patch.",
    buckets=(0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)
POLLER_PAGES = Counter(
    "sagemaker_operator_poller_pages_total",
    "ListTrainingJobs pages read by the pollers, by sweep kind (recent, full).",
    ["region", "sweep"],
)
QUEUE_CALLS = Counter(
    "sagemaker_operator_queue_calls_total",
    "Calls to the SQS queue of SageMaker's job-state-change events, by operation and outcome.",
    ["operation", "outcome"],
)
STATE_EVENTS = Counter(
    "sagemaker_operator_state_events_total",
    "Job-state-change events received, by what became of them: applied, stale (older than "
    "the status), superseded (a newer change of the job came in the same receive), foreign "
    "(no resource here names the job), unreadable, retried.",
    ["outcome"],
)
POLLER_OWED = Gauge(
    "sagemaker_operator_poller_owed_describes",
    "Running jobs shown from a ListTrainingJobs summary that still owe a full Describe.",
    ["region"],
)
POLLER_CYCLE = Histogram(
    "sagemaker_operator_poller_cycle_seconds",
    "How long a poller cycle took (list, describe, status writes), by region; above the poll "
    "interval, changes wait longer than one interval to show.",
    ["region"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
POLLER_LAST_SUCCESS = Gauge(
    "sagemaker_operator_poller_last_success_timestamp_seconds",
    "When each region's poller last finished a cycle without error (Unix time).",
    ["region"],
)
STATUS_PATCHES = Counter(
    "sagemaker_operator_status_patches_total",
    "Status patches written by the poller (only when the status differs).",
)


def serve(port: int) -> None:
    """Start the metrics HTTP server in a daemon thread; port 0 means no server."""
    if port:
        start_http_server(port)
