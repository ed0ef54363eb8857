"""``sagemaker-operator emulator``: run the SageMaker emulator in the foreground."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, get_args

import click

from sagemaker_operator.emulator import faults, server, settings


def _rates(values: tuple[str, ...]) -> dict[str, faults.Rate]:
    rates = dict(faults.DEFAULT_RATES)
    for value in values:
        try:
            operation, spec = value.split("=", 1)
            rate, _, burst = spec.partition("/")
            rates[operation] = faults.Rate(
                rate=float(rate), burst=int(burst or max(1, float(rate)))
            )
        except ValueError as exc:
            raise click.BadParameter(
                f"{value!r}: expected Operation=RATE[/BURST] ({exc})"
            ) from None
    return rates


def _quotas(values: tuple[str, ...]) -> dict[str, int]:
    quotas: dict[str, int] = {}
    for value in values:
        kind, sep, count = value.partition("=")
        if not sep or not kind or not count.isdigit():
            raise click.BadParameter(f"{value!r}: expected INSTANCE_TYPE=N, N a whole number")
        quotas[kind] = int(count)
    return quotas


FC = TypeVar("FC", bound=Callable[..., object])


def _fraction_option(flag: str, help: str) -> Callable[[FC], FC]:
    return click.option(
        flag, default=0.0, show_default=True, type=click.FloatRange(0, 1), help=help
    )


@click.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=settings.DEFAULT_PORT, show_default=True, type=int)
@click.option(
    "--time-scale",
    default=settings.DEFAULT_TIME_SCALE,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Multiplies every emulated duration: 1 is real time, 0.0035 makes a job take ~1 s.",
)
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Journal jobs to this file so a restart loses nothing (default: memory only).",
)
@click.option("--region", default="us-east-1", show_default=True, help="For unsigned requests.")
@click.option("--account", default="123456789012", show_default=True, help="Account in ARNs.")
@click.option(
    "--throttle/--no-throttle",
    default=True,
    show_default=True,
    help="Throttle calls with per-operation token buckets, as AWS does.",
)
@click.option(
    "--rate",
    "rates",
    multiple=True,
    metavar="OPERATION=RATE[/BURST]",
    help="Override a token bucket, e.g. DescribeTrainingJob=10/20. Repeatable.",
)
@_fraction_option(
    "--throttle-fraction",
    "Fraction of calls answered ThrottlingException, whatever the token buckets say.",
)
@_fraction_option("--error-fraction", "Fraction of calls answered with a 5xx error.")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(min=0))
@_fraction_option(
    "--lost-response-fraction",
    "Fraction of successful calls that are applied and then lose their answer.",
)
@click.option(
    "--lost-response-count",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="The next N successful calls are applied and then lose their answer.",
)
@click.option(
    "--lost-response-operation",
    "lost_response_operations",
    multiple=True,
    metavar="OPERATION",
    help="Lose answers of this operation only (e.g. CreateTrainingJob). Repeatable; "
    "default: every operation.",
)
@click.option(
    "--lost-response-mode",
    default="error",
    show_default=True,
    type=click.Choice(get_args(faults.LostMode)),
    help="How an answer is lost: a 500 (error), a 503 (unavailable), or the connection "
    "closed with no answer (drop).",
)
@click.option(
    "--instance-quota",
    "instance_quotas",
    multiple=True,
    metavar="INSTANCE_TYPE=N",
    help="The account may hold at most N instances of this type in training jobs (e.g. "
    "ml.p4d.24xlarge=0); more is ResourceLimitExceeded. Repeatable; default: no quotas.",
)
@click.option(
    "--seed", type=int, help="Seed for the injected-throttle, -error and event-fault dice."
)
@click.option(
    "--events-queue",
    metavar="NAME",
    help="Create this SQS queue (served on the same port) and put an EventBridge 'SageMaker "
    "Training Job State Change' event on it for every job status change. Default: no events.",
)
@_fraction_option("--events-lost-fraction", "Fraction of job-state-change events lost.")
@_fraction_option(
    "--events-duplicated-fraction", "Fraction of job-state-change events delivered twice."
)
@_fraction_option(
    "--events-delayed-fraction",
    "Fraction of job-state-change events delivered --events-delay-seconds late.",
)
@click.option(
    "--events-delay-seconds",
    default=60.0,
    show_default=True,
    type=click.FloatRange(0, 900),
    help="How late a delayed event arrives.",
)
@_fraction_option(
    "--events-reordered-fraction",
    "Fraction of job-state-change events delivered after the same job's next event.",
)
@click.option(
    "--history",
    default=0,
    show_default=True,
    type=click.IntRange(min=0),
    help="Seed this many finished jobs from the last 90 days in --region: an account with a "
    "past, which every unbounded ListTrainingJobs walks through.",
)
@click.option(
    "--admin/--no-admin",
    default=False,
    show_default=True,
    help="Serve the admin endpoint /_emulator/ (faults, reset, counters, health). Off: 404.",
)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def emulator(
    host: str,
    port: int,
    time_scale: float,
    state_file: Path | None,
    region: str,
    account: str,
    throttle: bool,
    rates: tuple[str, ...],
    throttle_fraction: float,
    error_fraction: float,
    latency_ms: float,
    lost_response_fraction: float,
    lost_response_count: int,
    lost_response_operations: tuple[str, ...],
    lost_response_mode: faults.LostMode,
    instance_quotas: tuple[str, ...],
    seed: int | None,
    history: int,
    events_queue: str | None,
    events_lost_fraction: float,
    events_duplicated_fraction: float,
    events_delayed_fraction: float,
    events_delay_seconds: float,
    events_reordered_fraction: float,
    admin: bool,
    verbose: bool,
) -> None:
    """Serve SageMaker's training-job API on HTTP, for boto3 with endpoint_url.

    Jobs move through SageMaker's statuses on a scaled clock; faults are injected on
    demand (flags here, or POST /_emulator/faults with --admin). See docs/emulator.md.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    fault_settings = faults.FaultSettings(
        throttling=throttle,
        rates=_rates(rates),
        throttle_fraction=throttle_fraction,
        error_fraction=error_fraction,
        latency_ms=latency_ms,
        seed=seed,
        lost_response=faults.LostResponse(
            count=lost_response_count,
            fraction=lost_response_fraction,
            operations=list(lost_response_operations) or None,
            mode=lost_response_mode,
        ),
        instance_quotas=_quotas(instance_quotas),
    )
    config = settings.Settings(
        host=host,
        port=port,
        time_scale=time_scale,
        region=region,
        account=account,
        state_file=state_file,
        faults=fault_settings,
        admin=admin,
        history=history,
        events_queue=events_queue,
        event_faults=faults.EventFaults(
            lost=faults.Share(fraction=events_lost_fraction),
            duplicated=faults.Share(fraction=events_duplicated_fraction),
            delayed=faults.Share(fraction=events_delayed_fraction),
            delay_seconds=events_delay_seconds,
            reordered=faults.Share(fraction=events_reordered_fraction),
            seed=seed,
        ),
    )
    logging.getLogger(__name__).info(
        "Faults: %s", json.dumps(fault_settings.model_dump(by_alias=True))
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(config))
