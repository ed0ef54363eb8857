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


def _register() -> None:
    # NB: imported here so each part of the product stays importable on its own.
    from sagemaker_operator.emulator.command import emulator

    main.add_command(emulator)


_register()
