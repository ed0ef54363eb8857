"""The whole ``CustomResourceDefinition`` for TrainingJob, and the ``crd`` subcommand.

``build_crd()`` assembles the spec schema (``schema`` over ``CreateTrainingJob``, the
operator's fields from ``spec``, the CEL rules from ``validations``) and the status schema
(``described``) into one ``apiextensions.k8s.io/v1`` object. ``sagemaker-operator crd`` prints
it as YAML; ``crds/`` holds that output and a test fails when the two differ.
"""

import copy
import functools
import json
from typing import Any

import click
import yaml

from sagemaker_operator import names
from sagemaker_operator.resource import (
    described,
    model,
    mutability,
    naming,
    policy_crd,
    schema,
    spec,
    text,
    validations,
)

OUTPUT = f"crds/{names.CRD_NAME}.yaml"
POLICY_OUTPUT = f"crds/{names.POLICY_CRD_NAME}.yaml"
COMMAND = f"sagemaker-operator crd > {OUTPUT}"


@functools.cache
def _spec_walk() -> tuple[schema.Schema, schema.Walk]:
    create = model.create_input()
    walk = schema.Walk(strict=True)
    spec_schema = walk.schema(create, create.documentation)
    spec_schema["description"] = (
        "The CreateTrainingJob request, member for member in lowerCamelCase, plus the "
        "operator's fields region and deletionPolicy. After creation only "
        f"{', '.join(mutability.updatable_paths())} and deletionPolicy can change.\n\n"
        + text.plain(model.service_model().operation_model(model.CREATE).documentation)
    )
    # trainingJobName is optional: the operator derives one when it is absent.
    name_field = naming.field_name("TrainingJobName")
    spec_schema["required"] = [f for f in spec_schema.get("required", []) if f != name_field]
    job_name = spec_schema["properties"][name_field]
    job_name["description"] = f"{job_name.get('description', '')}\n\n{spec.TRAINING_JOB_NAME_NOTE}"
    spec_schema["properties"].update(spec.operator_only_schemas())
    validations.add_rules(spec_schema)
    return spec_schema, walk


def spec_schema() -> schema.Schema:
    return copy.deepcopy(_spec_walk()[0])


def dropped_patterns() -> dict[str, tuple[str, str]]:
    """shape name -> (botocore pattern, reason) for patterns the schema cannot carry."""
    return dict(_spec_walk()[1].dropped_patterns)


def recursive_paths() -> list[str]:
    """Paths where a recursive shape was cut (none in the current model)."""
    return list(_spec_walk()[1].recursive)


def build_crd() -> dict[str, Any]:
    """The TrainingJob CustomResourceDefinition (``apiextensions.k8s.io/v1``)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": names.CRD_NAME,
            "annotations": {f"{names.GROUP}/botocore-version": model.BOTOCORE_VERSION},
        },
        "spec": {
            "group": names.GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": names.KIND,
                "listKind": f"{names.KIND}List",
                "plural": names.PLURAL,
                "singular": names.SINGULAR,
                "shortNames": list(names.SHORT_NAMES),
                "categories": ["sagemaker"],
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [
                        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
                        {
                            "name": "Secondary",
                            "type": "string",
                            "jsonPath": ".status.secondaryStatus",
                        },
                        {"name": "Job", "type": "string", "jsonPath": ".status.trainingJobName"},
                        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
                        {
                            "name": "FailureReason",
                            "type": "string",
                            "priority": 1,
                            "jsonPath": ".status.failureReason",
                        },
                    ],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "An Amazon SageMaker training job, run by "
                            "sagemaker-operator from this resource.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": spec_schema(),
                                "status": described.status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper with its own ``str`` style, whatever other code registers.

    NB: representers are process-global; some libraries (hera, for one) replace ``str``'s on
    ``yaml.SafeDumper`` at import, which would change the file the regeneration test expects.
    """


_Dumper.add_representer(str, yaml.representer.SafeRepresenter.represent_str)


def _generated() -> dict[str, tuple[Any, str]]:
    """plural -> (builder, the file in crds/)."""
    return {
        names.PLURAL: (build_crd, OUTPUT),
        names.POLICY_PLURAL: (policy_crd.crd, POLICY_OUTPUT),
    }


def render(plural: str = names.PLURAL) -> str:
    """A CRD as its YAML file in ``crds/``, with a header saying how it was made."""
    build = _generated()[plural][0]
    body = yaml.dump(build(), Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True)
    return (
        f"# Generated by `{command(plural)}` from botocore {model.BOTOCORE_VERSION}'s SageMaker "
        "model.\n# Do not edit: change the generator in operator/sagemaker_operator/resource/.\n"
        f"{body}"
    )


def command(plural: str = names.PLURAL) -> str:
    option = "" if plural == names.PLURAL else f" --kind {plural}"
    return f"sagemaker-operator crd{option} > {_generated()[plural][1]}"


def size_bytes() -> int:
    """Compact JSON size: what client-side ``kubectl apply`` puts in an annotation."""
    return len(json.dumps(build_crd(), separators=(",", ":")).encode())


@click.command("crd")
@click.option(
    "--kind",
    "plural",
    type=click.Choice([names.PLURAL, names.POLICY_PLURAL]),
    default=names.PLURAL,
    show_default=True,
    help="Which CustomResourceDefinition.",
)
def crd_command(plural: str) -> None:
    """Print a CustomResourceDefinition (TrainingJob, or TrainingJobPolicy) as YAML."""
    click.echo(render(plural), nl=False)
