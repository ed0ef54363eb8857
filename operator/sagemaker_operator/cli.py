"""The ``sagemaker-operator`` command line: one group, one subcommand per part of the product.

Each part owns its subcommand (``run``, ``emulator``, ``crd``) and registers it here, so this
module stays a table of contents rather than a place where logic accumulates.
"""

import click

from sagemaker_operator import __version__
from sagemaker_operator.resource import crd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sagemaker-operator")
def main() -> None:
    """Run Amazon SageMaker training jobs from Kubernetes TrainingJob resources."""


main.add_command(crd.crd_command)
