"""The ``apiextensions.k8s.io/v1`` CustomResourceDefinition shape both kinds share.

One served and stored version, a status subresource, and an object whose ``spec`` is
required: what differs per kind (names, scope, printer columns, the two schemas) comes in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sagemaker_operator import names

AGE = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}


def definition(
    *,
    kind: str,
    plural: str,
    scope: str,
    short_names: Sequence[str],
    description: str,
    spec: Mapping[str, Any],
    status: Mapping[str, Any],
    columns: Sequence[Mapping[str, Any]],
    annotations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": f"{plural}.{names.GROUP}"}
    if annotations:
        metadata["annotations"] = dict(annotations)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": names.GROUP,
            "scope": scope,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": kind.lower(),
                "shortNames": list(short_names),
                "categories": ["sagemaker"],
            },
            "versions": [
                {
                    "name": names.VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [dict(c) for c in columns],
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": description,
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {"type": "string"},
                                "kind": {"type": "string"},
                                "metadata": {"type": "object"},
                                "spec": dict(spec),
                                "status": dict(status),
                            },
                        }
                    },
                }
            ],
        },
    }
