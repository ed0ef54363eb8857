"""``sagemaker-operator logs NAME`` and ``kubectl sagemaker logs NAME``: a job's training log.

The TrainingJob is read with the current kubeconfig context (``--kubeconfig``,
``--context``, ``-n``); its status names the SageMaker job and the Region. The log is read
with the *user's* AWS credentials (the standard chain, ``--profile``), never the
operator's. ``--endpoint-url`` (or ``SAGEMAKER_OPERATOR_ENDPOINT_URL``; boto3's own
``AWS_ENDPOINT_URL`` works too) points both SageMaker and CloudWatch Logs at the emulator.

Exit status: 0 once the lines are printed (with ``-f``: once the job completed); 1 when a
followed job failed or was stopped, or the resource has no job to read; 130 on Ctrl-C.
"""

from __future__ import annotations

import sys
import time
from typing import Any, cast

import click

from sagemaker_operator.logs import follow, text

ENDPOINT_ENV = "SAGEMAKER_OPERATOR_ENDPOINT_URL"


@click.command("logs")
@click.argument("name")
@click.option("-n", "--namespace", help="Default: the kubeconfig context's namespace.")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), help="Default: $KUBECONFIG.")
@click.option("--context", help="The kubeconfig context to use (default: the current one).")
@click.option("-f", "--follow", "following", is_flag=True, help="Follow until the job ends.")
@click.option("--since", help="Only lines newer than this, e.g. 10m, 1h30m, 45s.")
@click.option("--tail", type=click.IntRange(min=0), help="Only the last N lines of each host.")
@click.option("--timestamps", is_flag=True, help="Put each line's time (RFC 3339) first.")
@click.option(
    "--host", "hosts", multiple=True, metavar="algo-N", help="Only this host (repeatable)."
)
@click.option("--all-hosts", is_flag=True, help="Every host, interleaved (the default).")
@click.option("--profile", help="AWS profile for reading the logs (default: the AWS chain).")
@click.option("--endpoint-url", envvar=ENDPOINT_ENV, help="SageMaker and Logs endpoint.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="Seconds between looks when nothing new came.",
)
def logs_command(
    name: str,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
    following: bool,
    since: str | None,
    tail: int | None,
    timestamps: bool,
    hosts: tuple[str, ...],
    all_hosts: bool,
    profile: str | None,
    endpoint_url: str | None,
    interval: float,
) -> None:
    """Print (with -f, follow) the training log of TrainingJob NAME, all hosts interleaved."""
    if all_hosts and hosts:
        raise click.UsageError("--all-hosts and --host exclude each other.")
    since_ms = None
    if since is not None:
        try:
            window = text.parse_since(since)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
        since_ms = max(0, int((time.time() - window.total_seconds()) * 1000))
    try:
        code = _run(
            name,
            namespace=namespace,
            kubeconfig=kubeconfig,
            context=context,
            following=following,
            since_ms=since_ms,
            tail=tail,
            timestamps=timestamps,
            hosts=hosts,
            profile=profile,
            endpoint_url=endpoint_url,
            interval=interval,
        )
    except KeyboardInterrupt:
        click.echo(err=True)
        sys.exit(130)
    sys.exit(code)


def _say(message: str) -> None:
    click.echo(message, err=True)


def _run(
    name: str,
    *,
    namespace: str | None,
    kubeconfig: str | None,
    context: str | None,
    following: bool,
    since_ms: int | None,
    tail: int | None,
    timestamps: bool,
    hosts: tuple[str, ...],
    profile: str | None,
    endpoint_url: str | None,
    interval: float,
) -> int:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    resource = _resource(name, namespace, kubeconfig, context)
    job = _job_of(resource, following=following, interval=interval, reread=resource.reread)
    if job is None:
        return 1
    job_name, region = job
    session = boto3.session.Session(profile_name=profile, region_name=region)
    config = Config(retries={"mode": "standard", "total_max_attempts": 1})
    logs = session.client("logs", endpoint_url=endpoint_url, config=config)
    sagemaker = session.client("sagemaker", endpoint_url=endpoint_url, config=config)
    reader = follow.Reader(logs, job_name, hosts=hosts, since_ms=since_ms, tail=tail, say=_say)
    colours: dict[str, str] = {}

    def emit(lines: list[text.Line]) -> None:
        for line in lines:
            if line.host not in colours:
                colours.update(text.colours_for({*colours, line.host}))
            click.echo(text.render(line, timestamps=timestamps, prefix=True, colours=colours))

    def status() -> tuple[str, str]:
        # NB: retried with backoff like the Logs calls.
        described = reader.retry(
            "describe_training_job", sagemaker.describe_training_job, TrainingJobName=job_name
        )
        return described["TrainingJobStatus"], described.get("SecondaryStatus", "")

    try:
        if not following:
            emit(reader.round(drain=True))
            if not reader.streams:
                described_status, secondary = status()
                _say(f"No logs yet: training job {job_name} is {described_status} ({secondary}).")
            return 0
        ending = follow.follow(reader, status, emit, interval=interval)
    except (ClientError, BotoCoreError) as error:
        _say(f"Error: {error}")
        return 1
    if ending.status != "Completed":
        _say(f"Training job {job_name} ended {ending.status}.")
    return ending.code


class _Resource:
    def __init__(self, body: dict[str, Any], reread: Any) -> None:
        self.body = body
        self.reread = reread


def _resource(
    name: str, namespace: str | None, kubeconfig: str | None, context: str | None
) -> _Resource:
    from kubernetes import client as k8s
    from kubernetes import config as kube_config
    from kubernetes.client.exceptions import ApiException

    from sagemaker_operator import names

    try:
        kube_config.load_kube_config(config_file=kubeconfig, context=context)
        if namespace is None:
            _, active = kube_config.list_kube_config_contexts(config_file=kubeconfig)
            chosen = active
            if context is not None:
                contexts, _ = kube_config.list_kube_config_contexts(config_file=kubeconfig)
                chosen = next((c for c in contexts if c["name"] == context), active)
            namespace = (chosen or {}).get("context", {}).get("namespace") or "default"
    except kube_config.ConfigException as exc:
        raise click.ClickException(f"kubeconfig: {exc}") from None
    api = k8s.CustomObjectsApi()

    def read() -> dict[str, Any]:
        try:
            body = cast(
                dict[str, Any],
                api.get_namespaced_custom_object(
                    names.GROUP, names.VERSION, namespace, names.PLURAL, name
                ),
            )
        except ApiException as exc:
            if exc.status == 404:
                raise click.ClickException(
                    f'TrainingJob "{name}" not found in namespace "{namespace}".'
                ) from None
            raise click.ClickException(f"Kubernetes: {exc.status} {exc.reason}") from None
        return body

    return _Resource(read(), read)


def _job_of(
    resource: _Resource, *, following: bool, interval: float, reread: Any
) -> tuple[str, str] | None:
    """The SageMaker job name and Region the resource's status names; with ``following``,
    wait (saying so) while it has none yet. None: it has none and will have none."""
    said = None
    body = resource.body
    while True:
        status = body.get("status") or {}
        meta = body.get("metadata", {})
        job_name, region = status.get("trainingJobName"), status.get("region")
        if status.get("trainingJobArn") and job_name and region:
            return str(job_name), str(region)
        phase = status.get("phase") or "Pending"
        if phase != "Pending":
            reason = next(
                (
                    f"{c.get('reason')}: {c.get('message')}"
                    for c in status.get("conditions") or []
                    if c.get("type") == "Succeeded" and c.get("status") == "False"
                ),
                phase,
            )
            _say(f"TrainingJob {meta.get('name')} has no SageMaker job ({reason}).")
            return None
        if not following:
            _say(f"TrainingJob {meta.get('name')} has no SageMaker job yet (phase {phase}).")
            return None
        if said != phase:
            _say(f"Waiting for TrainingJob {meta.get('name')} to get a SageMaker job ({phase}).")
            said = phase
        time.sleep(interval)
        body = reread()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def kubectl_plugin() -> None:
    """kubectl sagemaker: SageMaker TrainingJob tools for kubectl."""


kubectl_plugin.add_command(logs_command)
