"""The ``sagemaker-operator`` command line: one group, one subcommand per part of the product.

Each part owns its subcommand (``run``, ``emulator``, ``crd``) and registers it here, so this
module stays a table of contents rather than a place where logic accumulates.
"""

import click

from sagemaker_operator import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemaker-operator")
def main() -> None:
    """Run Amazon SageMaker training jobs from Kubernetes TrainingJob resources."""


@main.command()
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False), help="Default: in-cluster, else $KUBECONFIG."
)
@click.option(
    "--namespace", "namespaces", multiple=True, help="Watch only this namespace (repeatable)."
)
@click.option("--default-region", help="Region for resources without spec.region.")
@click.option("--sagemaker-endpoint-url", help="SageMaker endpoint override (e.g. the emulator).")
@click.option(
    "--standalone/--peering", default=None, help="Single replica, or an active/standby pair."
)
@click.option("--peering-name", help="kopf peering object name for an active/standby pair.")
@click.option(
    "--peering-priority", type=int, help="This replica's peering priority (default: random)."
)
@click.option(
    "--peering-lifetime",
    "peering_lifetime_seconds",
    type=int,
    help="Seconds a peer's lease lasts (failover time).",
)
@click.option(
    "--poll-interval",
    "poll_interval_seconds",
    type=float,
    help="Seconds between ListTrainingJobs cycles.",
)
@click.option(
    "--full-sweep-interval",
    "full_sweep_interval_seconds",
    type=float,
    help="Seconds between full sweeps.",
)
@click.option(
    "--retry-max-delay",
    "retry_max_delay_seconds",
    type=float,
    help="Cap of the backoff between retries of a transient fault.",
)
@click.option("--calls-per-second", type=float, help="SageMaker call budget per region.")
@click.option("--call-burst", type=int, help="Burst size of the call budget.")
@click.option(
    "--thread-pool-size", type=int, help="Threads for SageMaker calls, and for status writes."
)
@click.option("--liveness-port", type=int, help="Port of /healthz (0: off).")
@click.option("--metrics-port", type=int, help="Port of /metrics (0: off).")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"]))
@click.option("--log-format", type=click.Choice(["text", "json"]))
def run(kubeconfig: str | None, namespaces: tuple[str, ...], **options: object) -> None:
    """Run the operator (flags override SAGEMAKER_OPERATOR_* environment variables)."""
    from sagemaker_operator.config import Settings
    from sagemaker_operator.controller import running

    overrides = {key: value for key, value in options.items() if value is not None}
    if namespaces:
        overrides["namespaces"] = list(namespaces)
    running.run(Settings(**overrides), kubeconfig=kubeconfig)  # type: ignore[arg-type]


def _register() -> None:
    # NB: imported here so each part of the product stays importable on its own.
    from sagemaker_operator.emulator.command import emulator
    from sagemaker_operator.resource import crd

    main.add_command(emulator)
    main.add_command(crd.crd_command)


_register()

if __name__ == "__main__":
    main()
