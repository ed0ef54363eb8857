"""The generated CRD against a real kube-apiserver: examples accepted, mistakes refused at
``kubectl apply`` with a message that names the field, ``kubectl explain`` teaching AWS's text,
and a status written from a Describe response kept whole."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sagemaker_operator import names
from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.resource import crd, described
from tests.controller.helpers import eventually
from tests.plugins.controlplane import Kubectl
from tests.resource import shapes
from tests.resource.test_described import DESCRIPTION

ROOT = Path(__file__).resolve().parents[2]
Spec = dict[str, Any]
Mutation = Callable[[Spec], object]


@pytest.fixture(scope="module")
def trainingjob_crd(control_plane: ControlPlane) -> str:
    # Client-side apply on purpose: it proves the CRD fits the last-applied annotation, and the
    # API server checks every pattern compiles and every CEL rule fits the cost budget.
    control_plane.kubectl("apply", "-f", str(ROOT / crd.OUTPUT))
    control_plane.wait_established(names.CRD_NAME)
    for kind in (crd.IMMUTABILITY, crd.IMMUTABILITY_BINDING):
        control_plane.kubectl("apply", "-f", str(ROOT / crd.output(kind)))
    return names.CRD_NAME


@pytest.fixture(scope="module")
def immutable_fields_enforced(control_plane: ControlPlane, table_namespace: str) -> None:
    """Wait until the API server's admission plugin has loaded the policy (a moment after
    it is applied): a server-side dry run of an immutable edit is refused."""
    _apply(control_plane.kubectl, table_namespace, "enforced-probe", _minimal())
    changed = _minimal()
    changed["roleArn"] = "arn:aws:iam::123456789012:role/Probe"

    def refused() -> bool:
        probe = control_plane.kubectl(
            "apply",
            "-n",
            table_namespace,
            "--dry-run=server",
            "-f",
            "-",
            input=_manifest("enforced-probe", changed),
            check=False,
        )
        return probe.returncode != 0 and "spec.roleArn" in probe.stderr

    eventually(refused, timeout=30, interval=0.2)


@pytest.fixture(scope="module")
def table_namespace(control_plane: ControlPlane, trainingjob_crd: str) -> Iterator[str]:
    name = "crd-admission-table"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _manifest(name: str, spec: Spec) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": names.API_VERSION,
            "kind": names.KIND,
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def _minimal() -> Spec:
    spec: Spec = shapes.load_example(shapes.EXAMPLES / "minimal.yaml")["spec"]
    return spec


def _apply(
    kubectl: Kubectl, namespace: str, name: str, spec: Spec
) -> subprocess.CompletedProcess[str]:
    return kubectl("apply", "-n", namespace, "-f", "-", input=_manifest(name, spec), check=False)


@pytest.mark.parametrize("path", shapes.example_paths(), ids=lambda p: p.stem)
def test_every_example_is_accepted(
    kubectl: Kubectl, namespace: str, trainingjob_crd: str, path: Path
) -> None:
    result = kubectl("apply", "-n", namespace, "-f", str(path), check=False)
    assert result.returncode == 0, result.stderr
    name = shapes.load_example(path)["metadata"]["name"]
    stored = json.loads(kubectl("get", "-n", namespace, "smtj", name, "-o", "json").stdout)
    expected = shapes.load_example(path)["spec"]
    expected.setdefault("deletionPolicy", "Stop")  # the schema's default
    assert stored["spec"] == expected  # nothing pruned


def _set(path: str, value: Any) -> Mutation:
    """Mutation setting a dotted path (``a.b.0.c``) in the spec."""

    def mutate(spec: Spec) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node.setdefault(part, {})
        node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(path: str) -> Mutation:
    def mutate(spec: Spec) -> None:
        *parents, last = path.split(".")
        node: Any = spec
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[int(last) if last.isdigit() else last]

    return mutate


def _both(*mutations: Mutation) -> Mutation:
    def mutate(spec: Spec) -> None:
        for m in mutations:
            m(spec)

    return mutate


CREDENTIAL = "SageMaker's documentation says"
CHANNEL = {
    "channelName": "train",
    "dataSource": {"s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://b/x/"}},
}
VPC = {"securityGroupIds": ["sg-0123"], "subnets": ["subnet-0123"]}

# (id, mutation of the minimal example, what the refusal must say)
INVALID: list[tuple[str, Mutation, tuple[str, ...]]] = [
    # wrong types
    (
        "count-not-int",
        _set("resourceConfig.instanceCount", "two"),
        ("spec.resourceConfig.instanceCount", "integer"),
    ),
    ("bool-not-bool", _set("enableNetworkIsolation", "yes"), ("spec.enableNetworkIsolation",)),
    (
        "hyperparameter-not-string",
        _set("hyperParameters.num_round", 10),
        ("spec.hyperParameters.num_round", "string"),
    ),
    (
        "channels-not-list",
        _set("inputDataConfig", {"channelName": "train"}),
        ("spec.inputDataConfig",),
    ),
    (
        "runtime-not-int",
        _set("stoppingCondition.maxRuntimeInSeconds", "1h"),
        ("spec.stoppingCondition.maxRuntimeInSeconds",),
    ),
    ("unknown-field", _set("roleARN", "arn:aws:iam::123456789012:role/R"), ("spec.roleARN",)),
    # out of range
    (
        "keepalive-too-long",
        _set("resourceConfig.keepAlivePeriodInSeconds", 99999),
        ("spec.resourceConfig.keepAlivePeriodInSeconds", "21600"),
    ),
    (
        "retries-too-many",
        _set("retryStrategy", {"maximumRetryAttempts": 31}),
        ("spec.retryStrategy.maximumRetryAttempts", "30"),
    ),
    (
        "negative-count",
        _set("resourceConfig.instanceCount", -1),
        ("spec.resourceConfig.instanceCount",),
    ),
    (
        "zero-runtime",
        _set("stoppingCondition.maxRuntimeInSeconds", 0),
        ("spec.stoppingCondition.maxRuntimeInSeconds",),
    ),
    (
        "runtime-over-28-days",
        _set("stoppingCondition.maxRuntimeInSeconds", 30 * 86400),
        ("spec.stoppingCondition.maxRuntimeInSeconds", "28 days"),
    ),
    (
        "pending-too-short",
        _set("stoppingCondition.maxPendingTimeInSeconds", 60),
        ("spec.stoppingCondition.maxPendingTimeInSeconds", "greater than or equal to"),
    ),
    # lengths and patterns
    ("job-name-underscore", _set("trainingJobName", "bad_name"), ("spec.trainingJobName",)),
    ("job-name-too-long", _set("trainingJobName", "a" * 64), ("spec.trainingJobName",)),
    ("role-not-arn", _set("roleArn", "SageMakerRole"), ("spec.roleArn",)),
    (
        "output-not-s3",
        _set("outputDataConfig.s3OutputPath", "ftp://b/out"),
        ("spec.outputDataConfig.s3OutputPath",),
    ),
    (
        "channel-name-space",
        _set("inputDataConfig.0.channelName", "train data"),
        ("spec.inputDataConfig[0].channelName",),
    ),
    (
        "hyperparameter-too-long",
        _set("hyperParameters.text", "x" * 2501),
        ("spec.hyperParameters.text", "2500"),
    ),
    (
        "too-many-hyperparameters",
        _set("hyperParameters", {f"p{i}": "1" for i in range(101)}),
        ("spec.hyperParameters", "100"),
    ),
    ("environment-key-pattern", _set("environment", {"1BAD": "x"}), ("spec.environment",)),
    (
        "no-subnets",
        _set("vpcConfig", {"securityGroupIds": ["sg-1"], "subnets": []}),
        ("spec.vpcConfig.subnets",),
    ),
    ("empty-tag-key", _set("tags", [{"key": "", "value": "v"}]), ("spec.tags[0].key",)),
    ("region-not-a-region", _set("region", "mars"), ("spec.region",)),
    # enums
    (
        "instance-type",
        _set("resourceConfig.instanceType", "ml.banana.large"),
        ("spec.resourceConfig.instanceType", "ml.m5.large"),
    ),
    (
        "input-mode",
        _set("algorithmSpecification.trainingInputMode", "Stream"),
        ("spec.algorithmSpecification.trainingInputMode", "FastFile"),
    ),
    ("deletion-policy", _set("deletionPolicy", "Delete"), ("spec.deletionPolicy", "Retain")),
    (
        "s3-data-type",
        _set("inputDataConfig.0.dataSource.s3DataSource.s3DataType", "S3Bucket"),
        ("spec.inputDataConfig[0].dataSource.s3DataSource.s3DataType",),
    ),
    # missing required members
    ("no-role", _drop("roleArn"), ("spec.roleArn", "Required")),
    (
        "no-output-path",
        _drop("outputDataConfig.s3OutputPath"),
        ("spec.outputDataConfig.s3OutputPath", "Required"),
    ),
    (
        "vpc-without-subnets",
        _set("vpcConfig", {"securityGroupIds": ["sg-1"]}),
        ("spec.vpcConfig.subnets", "Required"),
    ),
    (
        "no-input-mode",
        _drop("algorithmSpecification.trainingInputMode"),
        ("spec.algorithmSpecification.trainingInputMode", "Required"),
    ),
    (
        "channel-without-source",
        _drop("inputDataConfig.0.dataSource"),
        ("spec.inputDataConfig[0].dataSource", "Required"),
    ),
    # credential-looking values
    (
        "access-key-id",
        _set("hyperParameters.key", "AKIAIOSFODNN7EXAMPLE"),
        ("spec.hyperParameters[key]", "AWS access key id", CREDENTIAL),
    ),
    (
        "secret-key",
        _set("environment", {"S3_SECRET": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
        ("spec.environment[S3_SECRET]", "secret access key", CREDENTIAL),
    ),
    (
        "credential-variable",
        _set("environment", {"AWS_SECRET_ACCESS_KEY": "x"}),
        ("spec.environment", CREDENTIAL),
    ),
    (
        "private-key",
        _set("hyperParameters.cert", "-----BEGIN RSA PRIVATE KEY-----\nMIIE"),
        ("spec.hyperParameters[cert]", "private key", CREDENTIAL),
    ),
    (
        "bearer-token",
        _set("environment", {"AUTH": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"}),
        ("spec.environment[AUTH]", "bearer token", CREDENTIAL),
    ),
    # cross-field rules
    (
        "image-and-algorithm",
        _set("algorithmSpecification.algorithmName", "my-algo"),
        ("spec.algorithmSpecification", "algorithmName and trainingImage"),
    ),
    (
        "neither-image-nor-algorithm",
        _drop("algorithmSpecification.trainingImage"),
        ("spec.algorithmSpecification", "algorithmName and trainingImage"),
    ),
    (
        "wait-without-spot",
        _set("stoppingCondition.maxWaitTimeInSeconds", 7200),
        ("spec.stoppingCondition.maxWaitTimeInSeconds", "enableManagedSpotTraining"),
    ),
    (
        "wait-below-runtime",
        _both(
            _set("enableManagedSpotTraining", True),
            _set("stoppingCondition.maxWaitTimeInSeconds", 1800),
        ),
        ("spec.stoppingCondition.maxWaitTimeInSeconds", "maxRuntimeInSeconds"),
    ),
    (
        "duplicate-channel",
        _set("inputDataConfig", [CHANNEL, CHANNEL]),
        ("spec.inputDataConfig", "unique"),
    ),
    (
        "reserved-tag",
        _set("tags", [{"key": names.TAG_UID, "value": "x"}]),
        ("spec.tags", "reserved"),
    ),
]


@pytest.mark.parametrize(("case", "mutate", "says"), INVALID, ids=[c[0] for c in INVALID])
def test_mistakes_are_refused_naming_the_field(
    kubectl: Kubectl, table_namespace: str, case: str, mutate: Mutation, says: tuple[str, ...]
) -> None:
    spec = _minimal()
    mutate(spec)
    result = _apply(kubectl, table_namespace, case, spec)
    assert result.returncode != 0, f"accepted: {case}"
    for text in says:
        assert text in result.stderr, result.stderr


def test_the_table_is_large_enough() -> None:
    assert len(INVALID) >= 30


def _debugger() -> Spec:
    spec: Spec = shapes.load_example(shapes.EXAMPLES / "debugger-profiler.yaml")["spec"]
    return spec


IMMUTABLE: list[tuple[str, Mutation, str]] = [
    ("hyperparameters", _set("hyperParameters", {"eta": "0.1"}), "spec.hyperParameters"),
    (
        "instance-type",
        _set("resourceConfig.instanceType", "ml.g5.4xlarge"),
        "spec.resourceConfig.instanceType",
    ),
    (
        "instance-count",
        _set("resourceConfig.instanceCount", 2),
        "spec.resourceConfig.instanceCount",
    ),
    ("region", _set("region", "us-east-1"), "spec.region"),
    ("job-name-added", _set("trainingJobName", "late-name"), "spec.trainingJobName"),
    ("role", _set("roleArn", "arn:aws:iam::123456789012:role/Other"), "spec.roleArn"),
    ("vpc-added", _set("vpcConfig", VPC), "spec.vpcConfig"),
    ("channels", _set("inputDataConfig.0.channelName", "training"), "spec.inputDataConfig"),
    ("profiler-removed", _drop("profilerConfig"), "spec.profilerConfig"),
    (
        "keepalive-removed",
        _drop("resourceConfig.keepAlivePeriodInSeconds"),
        "spec.resourceConfig.keepAlivePeriodInSeconds",
    ),
    (
        "stopping-condition",
        _set("stoppingCondition.maxRuntimeInSeconds", 60),
        "spec.stoppingCondition",
    ),
]


@pytest.mark.parametrize(("case", "mutate", "field"), IMMUTABLE, ids=[c[0] for c in IMMUTABLE])
def test_immutable_edits_are_refused(
    kubectl: Kubectl,
    table_namespace: str,
    immutable_fields_enforced: None,
    case: str,
    mutate: Mutation,
    field: str,
) -> None:
    name = f"immutable-{case}"
    original = _debugger()
    created = _apply(kubectl, table_namespace, name, original)
    assert created.returncode == 0, created.stderr
    changed = copy.deepcopy(original)
    mutate(changed)
    result = _apply(kubectl, table_namespace, name, changed)
    assert result.returncode != 0, f"accepted: {case}"
    assert field in result.stderr, result.stderr
    assert "after" in result.stderr, result.stderr


ALLOWED: list[tuple[str, Mutation]] = [
    ("keepalive", _set("resourceConfig.keepAlivePeriodInSeconds", 1800)),
    ("profiler-interval", _set("profilerConfig.profilingIntervalInMilliseconds", 1000)),
    ("profiler-disabled", _set("profilerConfig.disableProfiler", True)),
    ("profiler-rules", _set("profilerRuleConfigurations", [])),
    ("remote-debug", _set("remoteDebugConfig", {"enableRemoteDebug": True})),
    ("deletion-policy", _set("deletionPolicy", "Retain")),
]


@pytest.mark.parametrize(("case", "mutate"), ALLOWED, ids=[c[0] for c in ALLOWED])
def test_updatable_edits_are_accepted(
    kubectl: Kubectl, table_namespace: str, case: str, mutate: Mutation
) -> None:
    name = f"allowed-{case}"
    original = _debugger()
    assert _apply(kubectl, table_namespace, name, original).returncode == 0
    changed = copy.deepcopy(original)
    mutate(changed)
    result = _apply(kubectl, table_namespace, name, changed)
    assert result.returncode == 0, result.stderr


def test_explain_teaches_aws_text(kubectl: Kubectl, trainingjob_crd: str) -> None:
    # NB: the API server publishes a new CRD's OpenAPI a moment after it is Established.
    def explained() -> str:
        result = kubectl("explain", "trainingjob.spec.resourceConfig", check=False)
        return result.stdout if result.returncode == 0 else ""

    out: str = eventually(explained, timeout=30, interval=0.5)
    assert "The resources, including the ML compute instances and ML storage volumes" in out
    assert "keepAlivePeriodInSeconds" in out


def test_status_from_a_description_is_stored_whole(
    kubectl: Kubectl, namespace: str, trainingjob_crd: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=_manifest("described", _minimal()))
    written = described.status_from_description(DESCRIPTION)
    written.update(
        phase="Completed",
        logsUrl="https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1",
        region="us-east-1",
        observedGeneration=1,
        conditions=[
            {
                "type": "Succeeded",
                "status": "True",
                "reason": "Completed",
                "message": "SageMaker reports the job completed",
                "observedGeneration": 1,
                "lastTransitionTime": "2024-06-01T12:05:00Z",
            }
        ],
    )
    kubectl(
        "patch",
        "-n",
        namespace,
        "smtj",
        "described",
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": written}),
    )
    stored = json.loads(kubectl("get", "-n", namespace, "smtj", "described", "-o", "json").stdout)
    assert stored["status"] == written
    wide = kubectl("get", "-n", namespace, "smtj", "described", "-o", "wide").stdout
    header, row = wide.splitlines()[:2]
    assert header.split()[:5] == ["NAME", "PHASE", "SECONDARY", "JOB", "AGE"]
    assert "FAILUREREASON" in header
    assert row.split()[:4] == ["described", "Completed", "Completed", "xgb-1"]
