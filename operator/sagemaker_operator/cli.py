"""The ``sagemaker-operator`` command line: one group, one subcommand per part of the product.

Each part owns its subcommand (``run``, ``emulator``, ``crd``, ``logs``) and registers it
here, so this module stays a table of contents rather than a place where logic accumulates.
"""

import click

from sagemaker_operator import __version__, settings_cli


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemaker-operator")
def main() -> None:
    """Run Amazon SageMaker training jobs from Kubernetes TrainingJob resources."""


@main.command()
@click.option(
    "--kubeconfig", type=click.Path(dir_okay=False), help="Default: in-cluster, else $KUBECONFIG."
)
@settings_cli.settings_options
def run(kubeconfig: str | None, **options: object) -> None:
    """Run the operator.

    Every flag but --kubeconfig is a setting with an environment twin SAGEMAKER_OPERATOR_<NAME>:
    a flag wins over the environment, the environment over the default.
    """
    from sagemaker_operator.controller import running

    # NB: a program that embeds this command (the benchmark's baseline) can choose how
    # statuses are observed: main(obj={"observation": ...}), see running.run.
    context_obj = click.get_current_context().obj or {}
    running.run(
        settings_cli.settings(options),
        kubeconfig=kubeconfig,
        observation=context_obj.get("observation"),
    )


def _register() -> None:
    # NB: imported here so each part of the product stays importable on its own.
    from sagemaker_operator.emulator.command import emulator
    from sagemaker_operator.logs.command import logs_command
    from sagemaker_operator.resource import crd

    main.add_command(emulator)
    main.add_command(crd.crd_command)
    main.add_command(logs_command)


_register()

if __name__ == "__main__":
    main()
