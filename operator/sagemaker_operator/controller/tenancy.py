"""Which execution roles and S3 prefixes a namespace's resources may use.

Without a guard, anyone allowed to create a TrainingJob may run jobs as every role the
operator can pass. A cluster admin limits that per namespace, in two places (the ConfigMap
wins when it has an entry for the namespace; ``"*"`` there is the default for all others):

* the ConfigMap ``sagemaker-operator-tenancy`` in the operator's namespace, one key per
  namespace, each a YAML document ``{roleArns: [glob, ...], s3Prefixes: [prefix, ...]}``;
* annotations on the Namespace: ``sagemaker-operator.io/allowed-role-arns`` and
  ``sagemaker-operator.io/allowed-s3-prefixes``, comma-separated.

A namespace with neither is unrestricted. Refusals happen before any AWS call.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from sagemaker_operator import names

ROLE_ANNOTATION = f"{names.GROUP}/allowed-role-arns"
S3_ANNOTATION = f"{names.GROUP}/allowed-s3-prefixes"


@dataclass(frozen=True)
class Allowance:
    role_arns: tuple[str, ...] | None = None  # globs; None = any
    s3_prefixes: tuple[str, ...] | None = None  # plain prefixes; None = any


@dataclass(frozen=True)
class Refusal:
    reason: str
    message: str


def _csv(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(item.strip() for item in value.split(",") if item.strip())


def _listed(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _csv(value)
    return tuple(str(item) for item in value)


def allowance_for(
    namespace: str,
    configmap_data: Mapping[str, str] | None,
    namespace_annotations: Mapping[str, str] | None,
) -> Allowance:
    data = configmap_data or {}
    entry = data.get(namespace, data.get("*"))
    if entry is not None:
        parsed = yaml.safe_load(entry) or {}
        if not isinstance(parsed, dict):
            raise ValueError(f"tenancy entry for {namespace!r} is not a mapping")
        return Allowance(_listed(parsed.get("roleArns")), _listed(parsed.get("s3Prefixes")))
    annotations = namespace_annotations or {}
    return Allowance(_csv(annotations.get(ROLE_ANNOTATION)), _csv(annotations.get(S3_ANNOTATION)))


def s3_uris(value: Any) -> Iterator[str]:
    """Every s3:// string anywhere in a spec: new S3 members are covered without code."""
    if isinstance(value, str):
        if value.startswith("s3://"):
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from s3_uris(item)
    elif isinstance(value, list):
        for item in value:
            yield from s3_uris(item)


def check(spec: Mapping[str, Any], allowance: Allowance) -> Refusal | None:
    role = str(spec.get("roleArn", ""))
    if allowance.role_arns is not None and not any(
        fnmatch.fnmatchcase(role, pattern) for pattern in allowance.role_arns
    ):
        return Refusal(
            "RoleNotAllowed",
            f"roleArn {role} is not allowed in this namespace "
            f"(allowed: {', '.join(allowance.role_arns) or 'none'})",
        )
    if allowance.s3_prefixes is not None:
        for uri in s3_uris(spec):
            if not any(uri.startswith(prefix) for prefix in allowance.s3_prefixes):
                return Refusal(
                    "S3PrefixNotAllowed",
                    f"{uri} is outside the S3 prefixes allowed in this namespace "
                    f"(allowed: {', '.join(allowance.s3_prefixes) or 'none'})",
                )
    return None
