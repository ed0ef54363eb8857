"""The chart as a package: lint, the values schema, the values documentation, the CRD copy."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helm.chart import CHART_CRDS_DIR, CHART_DIR, REPO_CRDS_DIR, HelmError, helm, render

VALUES = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
SCHEMA = json.loads((CHART_DIR / "values.schema.json").read_text())


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"rbac": {"scope": "namespaced"}, "watchNamespaces": ["a"]},
        {"watchNamespaces": ["a", "b"]},  # cluster scope narrowed to Roles
        {"watchNamespaces": ["team-*"], "rbac": {"aggregateToDefaultRoles": False}},
    ],
    ids=["cluster", "namespaced", "cluster-listed", "cluster-pattern"],
)
def test_helm_lint_strict_passes_in_every_scope(tmp_path: Path, values: dict[str, Any]) -> None:
    path = tmp_path / "values.json"
    path.write_text(json.dumps(values))
    helm("lint", "--strict", str(CHART_DIR), f"--values={path}")


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicas": 2}, "replicas"),  # a top-level typo of replicaCount
        ({"image": {"respository": "x"}}, "respository"),
        ({"operator": {"logLevel": "VERBOSE"}}, "logLevel"),
        ({"operator": {"pollIntervalSecs": 5}}, "pollIntervalSecs"),
        ({"operator": {"pollIntervalSeconds": 0}}, "pollIntervalSeconds"),
        ({"rbac": {"scope": "namespace"}}, "scope"),
        ({"metrics": {"serviceMonitor": {"enable": True}}}, "enable"),
        ({"extraEnv": [{"name": "SAGEMAKER_OPERATOR_LOG_LEVEL", "value": "DEBUG"}]}, "extraEnv"),
        ({"rbac": {"aggregateToDefaultRole": False}}, "aggregateToDefaultRole"),
        ({"rbac": {"aggregateToDefaultRoles": "false"}}, "aggregateToDefaultRoles"),
        ({"operator": {"requirePolicy": "true"}}, "requirePolicy"),
        ({"operator": {"requirePolicies": True}}, "requirePolicies"),
        ({"operator": {"allowInsecureEndpoint": 1}}, "allowInsecureEndpoint"),
        ({"operator": {"extraRegions": "us-east-1"}}, "extraRegions"),  # a list, not a string
        ({"operator": {"extraRegions": ["US-EAST-1"]}}, "extraRegions"),
        ({"operator": {"extraRegions": ["eu-west-1", "eu-west-1"]}}, "extraRegions"),
        ({"operator": {"tenancyConfigMap": "tenancy"}}, "tenancyConfigMap"),  # gone
    ],
)
def test_schema_refuses_typos_and_bad_values(values: dict[str, Any], complaint: str) -> None:
    with pytest.raises(HelmError, match="values don't meet the specifications") as error:
        render(values)
    assert complaint in error.value.stderr


def _documented_names() -> set[str]:
    text = (CHART_DIR / "values.yaml").read_text()
    return set(re.findall(r"^\s*# -- ([A-Za-z][\w.]*) ", text, flags=re.MULTILINE))


def _leaves(values: dict[str, Any], documented: set[str], prefix: str = "") -> list[str]:
    """Dotted names that must be documented: a documented map counts as one value."""
    names = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if name in documented or not isinstance(value, dict) or not value:
            names.append(name)
        else:
            names.extend(_leaves(value, documented, f"{name}."))
    return names


def test_every_value_is_documented_by_a_comment_starting_with_its_name() -> None:
    documented = _documented_names()
    leaves = _leaves(VALUES, documented)
    assert sorted(set(leaves) - documented) == []
    assert sorted(documented - set(leaves)) == []  # no comment for a value that is gone


def _schema_has(path: str) -> bool:
    node = SCHEMA
    for key in path.split("."):
        node = node.get("properties", {}).get(key)
        if node is None:
            return False
    return True


def test_every_value_is_in_the_schema_and_every_object_in_it_is_closed() -> None:
    leaves = _leaves(VALUES, _documented_names())
    assert [name for name in leaves if not _schema_has(name)] == []

    def closed(node: dict[str, Any], where: str) -> None:
        if "properties" in node:
            assert node.get("additionalProperties") is False, where
            for key, child in node["properties"].items():
                closed(child, f"{where}.{key}")

    closed(SCHEMA, "values")


def test_chart_crds_are_the_repository_crds() -> None:
    """One source of truth: the chart's copy must equal crds/ (`make chart-crds` syncs)."""
    repo = {p.name: p.read_bytes() for p in REPO_CRDS_DIR.glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in CHART_CRDS_DIR.glob("*.yaml")}
    assert repo, "crds/ holds no CRD: run `sagemaker-operator crd`, then `make chart-crds`"
    assert sorted(chart) == sorted(repo), "run `make chart-crds`"
    for name, content in repo.items():
        assert chart[name] == content, f"{name} differs from crds/: run `make chart-crds`"
    for content in repo.values():
        documents = [d for d in yaml.safe_load_all(content) if d]
        assert len(documents) == 1, "the chart renders one object per file"
        assert documents[0]["kind"] in {
            "CustomResourceDefinition",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        }
