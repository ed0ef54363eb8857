"""Start the operator: logging, metrics, credentials, then kopf, all configured in code."""

from __future__ import annotations

import asyncio
import logging
import os
import random

import kopf

from sagemaker_operator import metrics, names
from sagemaker_operator.config import Settings
from sagemaker_operator.controller.kube import Kube, event_workers, load_api_client
from sagemaker_operator.controller.observation import BulkObservation
from sagemaker_operator.controller.runtime import Observation, Runtime

logger = logging.getLogger(__name__)
MAX_PRIORITY = 2**31 - 1
# Their DEBUG records carry signed requests: the access key id in the Authorization header and
# the session token in X-Amz-Security-Token. Never below INFO, whatever --log-level says.
CREDENTIAL_LOGGERS = ("botocore", "boto3")


def peering_priority(operator: Settings) -> int:
    """The configured priority, else a random one: two replicas of one Deployment share
    every setting, and kopf pauses *all* peers that tie, so each process draws its own.
    (A collision is a 1 in 2**31 chance; kopf then pauses both and logs it.)"""
    if operator.peering_priority is not None:
        return operator.peering_priority
    return random.SystemRandom().randint(1, MAX_PRIORITY)


class RetriesAreWeather(logging.Filter):
    """kopf logs each retry of a handler at ERROR ("failed temporarily"); for this operator a
    retry is throttling or a passing fault, retried by design and shown in ``Synced``: INFO.
    (An Event is posted once a resource has waited long: handlers.THROTTLED_EVENT_AFTER.)"""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "failed temporarily" in record.getMessage():
            record.levelno, record.levelname = logging.INFO, "INFO"
            return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True


CONSISTENCY_TIMEOUT_SECONDS = 60.0


def kopf_settings(operator: Settings, *, priority: int = 0) -> kopf.OperatorSettings:
    """kopf's own bookkeeping under our prefix, never kopf's defaults (design: public names)."""
    settings = kopf.OperatorSettings()
    settings.persistence.finalizer = names.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=names.GROUP, key="last-handled-configuration"
    )
    # NB: how long kopf waits for the watch to bring back its own last patch before it
    # handles an older copy (kopf's default is 5 s). At N = 10,000 the watch ran far more
    # than 5 s behind, and create handlers re-ran on copies from before their own writes.
    # Their writes are refused then (status_writes.SupersededError); this makes them rare.
    settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT_SECONDS
    settings.peering.name = operator.peering_name or "sagemaker-operator"
    settings.peering.priority = priority
    settings.peering.lifetime = operator.peering_lifetime_seconds
    # NB: kopf turns its log lines at this level and above into Events. Our own Events say
    # what a person needs; kopf's per-retry lines would be one Event per throttled retry.
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.networking.request_timeout = 60
    # Handler errors that are not ours to classify (bugs) retry slowly rather than hot-loop.
    settings.execution.max_workers = operator.thread_pool_size
    settings.queueing.error_delays = (10, 30, 60, 120, 300, 600)
    return settings


class InsecureEndpointError(SystemExit):
    pass


def check_endpoint(settings: Settings) -> None:
    """Refuse a plain-http AWS endpoint (SageMaker's, or the events queue's) unless it is
    declared a local emulator."""
    for flag, url in (
        ("--sagemaker-endpoint-url", settings.sagemaker_endpoint_url),
        ("--events-endpoint-url", settings.events_endpoint_url),
        ("--events-queue-url", settings.events_queue_url),
    ):
        if (url or "").lower().startswith("http://") and not settings.allow_insecure_endpoint:
            raise InsecureEndpointError(
                f"{flag} {url} is plain http: AWS credentials would cross the network "
                "unencrypted. Use https, or set --allow-insecure-endpoint "
                "(SAGEMAKER_OPERATOR_ALLOW_INSECURE_ENDPOINT=true) for a local emulator."
            )


def run(
    settings: Settings,
    *,
    kubeconfig: str | None = None,
    observation: Observation | None = None,
) -> None:
    """Run the operator until it is stopped.

    ``observation`` is how statuses follow SageMaker; the default is the bulk pollers. It is
    the benchmark's seam: its baseline passes a per-resource strategy here.
    """
    check_endpoint(settings)
    kopf.configure(
        verbose=settings.log_level == "DEBUG",
        quiet=settings.log_level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger("kopf.objects").addFilter(RetriesAreWeather())
    level = max(logging.INFO, logging.getLevelNamesMapping()[settings.log_level])
    for name in CREDENTIAL_LOGGERS:
        logging.getLogger(name).setLevel(level)
    if kubeconfig:
        os.environ["KUBECONFIG"] = kubeconfig  # kopf's login handlers read it too
    metrics.serve(settings.metrics_port)

    # Importing registers the handlers with kopf's default registry.
    from sagemaker_operator.controller import handlers  # noqa: F401

    # NB: as many Kubernetes workers as SageMaker ones, or a burst of changes queues its status
    # patches behind a few blocking requests (docs/performance.md). The pollers get workers of
    # their own (Runtime.poll_kube); only they post Events through a Kube, so only theirs
    # needs connections for the Event lane.
    pool = settings.thread_pool_size
    runtime = Runtime(
        settings,
        kube=Kube(load_api_client(kubeconfig, pool_size=pool), workers=pool),
        poll_kube=Kube(
            load_api_client(kubeconfig, pool_size=pool + event_workers(pool)), workers=pool
        ),
        observation=observation or BulkObservation(),
    )
    standalone = settings.standalone and not settings.peering_name
    priority = 0 if standalone else peering_priority(settings)
    if not standalone:
        logger.info("Peering as %r with priority %d.", settings.peering_name, priority)
    asyncio.run(
        kopf.operator(
            settings=kopf_settings(settings, priority=priority),
            clusterwide=not settings.namespaces,
            namespaces=settings.namespaces,
            standalone=standalone,
            priority=priority,
            peering_name=settings.peering_name,
            liveness_endpoint=(
                f"http://0.0.0.0:{settings.liveness_port}/healthz"
                if settings.liveness_port
                else None
            ),
            memo=kopf.Memo(runtime=runtime),
        )
    )
