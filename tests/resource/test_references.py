"""The references a policy must check: classified from the model, read from a spec, S3 parsed."""

from typing import Any

import botocore.model
import pytest

from sagemaker_operator.resource import references
from sagemaker_operator.resource.references import Kind, Reference, S3Location

ROLE = "arn:aws:iam::111122223333:role/team-a-training"
KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
IMAGE = "111122223333.dkr.ecr.us-east-1.amazonaws.com/team-a/train:1.0"
RULE_IMAGE = "503895931360.dkr.ecr.us-east-1.amazonaws.com/sagemaker-debugger-rules:latest"
LAMBDA = "arn:aws:lambda:us-east-1:111122223333:function:team-a-registry-credentials"


def table() -> dict[str, Kind]:
    return {references.dotted(path): kind for path, kind in references.classify().items()}


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("roleArn", Kind.ROLE),
        ("outputDataConfig.kmsKeyId", Kind.KMS_KEY),
        ("outputDataConfig.s3OutputPath", Kind.S3),
        ("inputDataConfig[].dataSource.s3DataSource.s3Uri", Kind.S3),
        ("inputDataConfig[].dataSource.fileSystemDataSource.fileSystemId", Kind.FILE_SYSTEM),
        ("vpcConfig.subnets[]", Kind.SUBNET),
        ("vpcConfig.securityGroupIds[]", Kind.SECURITY_GROUP),
        ("algorithmSpecification.trainingImage", Kind.IMAGE),
        ("algorithmSpecification.algorithmName", Kind.ARN),
        ("debugRuleConfigurations[].ruleEvaluatorImage", Kind.IMAGE),
        ("profilerRuleConfigurations[].ruleEvaluatorImage", Kind.IMAGE),
        ("profilerConfig.s3OutputPath", Kind.S3),
        ("checkpointConfig.s3Uri", Kind.S3),
        ("tensorBoardOutputConfig.s3OutputPath", Kind.S3),
        ("debugHookConfig.s3OutputPath", Kind.S3),
        ("resourceConfig.volumeKmsKeyId", Kind.KMS_KEY),
        ("resourceConfig.trainingPlanArn", Kind.ARN),
        ("resourceConfig.instancePreferences[].trainingPlanArns[]", Kind.ARN),
        (
            "algorithmSpecification.trainingImageConfig.trainingRepositoryAuthConfig."
            "trainingRepositoryCredentialsProviderArn",
            Kind.ARN,
        ),
        ("inputDataConfig[].dataSource.s3DataSource.hubAccessConfig.hubContentArn", Kind.ARN),
        ("mlflowConfig.mlflowResourceArn", Kind.ARN),
        ("modelPackageConfig.modelPackageGroupArn", Kind.ARN),
        ("experimentConfig.experimentName", Kind.NAME),
        ("experimentConfig.trialName", Kind.NAME),
        ("experimentConfig.runName", Kind.NAME),
        ("sessionChainingConfig.enableSessionTagChaining", Kind.FLAG),
    ],
)
def test_reference_is_classified(path: str, kind: Kind) -> None:
    assert table().get(path) is kind


@pytest.mark.parametrize(
    "path",
    [
        "resourceConfig.instanceType",
        "resourceConfig.instanceCount",
        "hyperParameters{}",
        "environment{}",
        "stoppingCondition.maxRuntimeInSeconds",
        "trainingJobName",
        "inputDataConfig[].channelName",
        "tags[].value",
        "algorithmSpecification.containerArguments[]",
        "experimentConfig.trialComponentDisplayName",  # labels the job's own trial component
        "enableNetworkIsolation",
        "enableManagedSpotTraining",
        "remoteDebugConfig.enableRemoteDebug",
    ],
)
def test_non_reference_is_absent(path: str) -> None:
    assert path not in table()
    assert any(references.dotted(p) == path for p, _ in references.leaves())  # a real leaf


def test_no_stopping_condition_or_hyper_parameter_is_a_reference() -> None:
    assert not [p for p in references.classify() if p[0] in ("stoppingCondition", "tags")]
    assert ("hyperParameters", "{}") not in references.classify()


def test_every_arn_leaf_is_classified() -> None:
    arn_leaves = [
        references.dotted(path)
        for path, shape in references.leaves()
        if shape.name.endswith("Arn") or shape.name.endswith("Arns")
    ]
    assert len(arn_leaves) >= 10
    assert [p for p in arn_leaves if p not in table()] == []


def test_every_leaf_whose_pattern_names_an_arn_or_uri_is_classified() -> None:
    leads = ("arn:", "(arn:", "(https|s3)://", "s3://", "(s3)://", "(fs-")
    patterned = [
        references.dotted(path)
        for path, shape in references.leaves()
        if str(shape.metadata.get("pattern", "")).lstrip("^").startswith(leads)
    ]
    assert len(patterned) >= 15
    assert [p for p in patterned if p not in table()] == []


def test_every_kind_is_used() -> None:
    assert set(references.classify().values()) == set(Kind)


def test_kinds_are_the_policy_field_names() -> None:
    assert {k.value for k in Kind} == {
        "roleArns",
        "s3",
        "kmsKeys",
        "images",
        "subnets",
        "securityGroups",
        "fileSystems",
        "arns",
        "names",
        "flags",
    }


def test_classify_returns_a_copy() -> None:
    first = references.classify()
    first.clear()
    assert references.classify()


def _string(name: str, pattern: str | None = None, documentation: str = "") -> Any:
    shape_model: dict[str, Any] = {"type": "string", "documentation": documentation}
    if pattern is not None:
        shape_model["pattern"] = pattern
    return botocore.model.StringShape(name, shape_model)


@pytest.mark.parametrize(
    ("member", "shape", "kind"),
    [
        ("ExecutionRole", _string("Foo", r"arn:aws[a-z\-]*:iam::\d{12}:role/.*"), Kind.ROLE),
        ("RoleArn", _string("NewRoleArn"), Kind.ROLE),
        ("Alias", _string("Foo", r"arn:aws:iam::\d{12}:rolealias/.*"), Kind.ARN),
        ("Key", _string("CustomerKmsKeyArn", r"arn:aws:kms:.*"), Kind.KMS_KEY),
        ("Key", _string("Foo", r"arn:aws[a-z\-]*:kms:.*"), Kind.KMS_KEY),
        ("Subnet", _string("NeoVpcSubnetId"), Kind.SUBNET),
        ("Group", _string("OptimizationVpcSecurityGroupId"), Kind.SECURITY_GROUP),
        ("Fs", _string("Foo", r"(fs-[0-9a-f]{8,})"), Kind.FILE_SYSTEM),
        ("Out", _string("Foo", r"^(https|s3)://([^/]+)/?(.*)$"), Kind.S3),
        ("Out", _string("Foo", r"(s3)://([^/]+)/?(.*)"), Kind.S3),
        ("Out", _string("ModelS3Uri", ".*"), Kind.S3),
        ("Repo", _string("RepositoryUrl", r"https://([.\-_a-zA-Z0-9]+/?){3,1016}"), None),
        ("Image", _string("ImageUri", ".*"), Kind.IMAGE),
        ("Image", _string("OptimizationContainerImage", r"[\S]+"), Kind.IMAGE),
        ("Thing", _string("NewThingArn", ".*"), Kind.ARN),
        ("Thing", _string("Foo", r"^arn:aws:sagemaker:.*"), Kind.ARN),
        ("Hub", _string("Foo", "(arn:[a-z0-9-]{1,63}:sagemaker:.*)"), Kind.ARN),
        ("Name", _string("Foo", documentation="The name of an existing hub to use."), Kind.NAME),
        ("TrialName", _string("ExperimentEntityName"), Kind.NAME),
        ("TrialComponentDisplayName", _string("ExperimentEntityName"), None),
        ("Name", _string("Foo", documentation="The name of the model."), None),
        ("Value", _string("HyperParameterValue", ".*"), None),
        ("Learning", _string("LearnRate", ".*"), None),
    ],
)
def test_rules_classify_members_the_model_may_add(
    member: str, shape: Any, kind: Kind | None
) -> None:
    assert references.kind_of(member, shape) is kind


@pytest.mark.parametrize(
    ("documentation", "kind"),
    [
        ("Set to True to reuse the session tags when assuming the execution role.", Kind.FLAG),
        ("Set to True to pass the caller's credentials to the job.", Kind.FLAG),
        ("Isolates the training container.", None),
    ],
)
def test_flag_rule(documentation: str, kind: Kind | None) -> None:
    shape = botocore.model.Shape("Flag", {"type": "boolean", "documentation": documentation})
    assert references.kind_of("Enable", shape) is kind


def test_numbers_are_never_references() -> None:
    shape = botocore.model.Shape("RoleArn", {"type": "integer"})
    assert references.kind_of("RoleArn", shape) is None


# --- references in a spec ---------------------------------------------------------------------


SPEC: dict[str, Any] = {
    "region": "us-east-1",
    "deletionPolicy": "Stop",
    "roleArn": ROLE,
    "algorithmSpecification": {
        "trainingImage": IMAGE,
        "trainingInputMode": "File",
        "trainingImageConfig": {
            "trainingRepositoryAccessMode": "Vpc",
            "trainingRepositoryAuthConfig": {"trainingRepositoryCredentialsProviderArn": LAMBDA},
        },
    },
    "hyperParameters": {"epochs": "10", "data": "s3://team-b/not-a-reference"},
    "environment": {"OUTPUT": "s3://team-b/also-not"},
    "inputDataConfig": [
        {
            "channelName": "train",
            "dataSource": {
                "s3DataSource": {"s3DataType": "S3Prefix", "s3Uri": "s3://team-a/data/train"}
            },
        },
        {
            "channelName": "shared",
            "dataSource": {
                "fileSystemDataSource": {
                    "fileSystemId": "fs-0123456789abcdef0",
                    "fileSystemType": "FSxLustre",
                    "fileSystemAccessMode": "ro",
                    "directoryPath": "/fsx/team-a",
                }
            },
        },
        {
            "channelName": "validation",
            "dataSource": {
                "s3DataSource": {
                    "s3DataType": "S3Prefix",
                    "s3Uri": "https://team-a.s3.us-east-1.amazonaws.com/data/validation",
                }
            },
        },
    ],
    "outputDataConfig": {"s3OutputPath": "s3://team-a/output", "kmsKeyId": KEY},
    "resourceConfig": {
        "instanceType": "ml.m5.xlarge",
        "instanceCount": 1,
        "volumeSizeInGB": 50,
        "volumeKmsKeyId": KEY,
    },
    "vpcConfig": {
        "securityGroupIds": ["sg-0123456789abcdef0"],
        "subnets": ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"],
    },
    "stoppingCondition": {"maxRuntimeInSeconds": 3600},
    "tags": [{"key": "team", "value": "a"}],
    "enableNetworkIsolation": True,
    "checkpointConfig": {"s3Uri": "s3://team-a/checkpoints", "localPath": "/opt/ml/checkpoints"},
    "debugRuleConfigurations": [
        {"ruleConfigurationName": "loss", "ruleEvaluatorImage": RULE_IMAGE},
        {
            "ruleConfigurationName": "overfit",
            "ruleEvaluatorImage": RULE_IMAGE,
            "s3OutputPath": "s3://team-a/rules",
        },
    ],
    "experimentConfig": {
        "experimentName": "team-a-churn",
        "trialComponentDisplayName": "nightly",
        "runName": "run-7",
    },
    "sessionChainingConfig": {"enableSessionTagChaining": False},
}

DATA_SOURCE = "dataSource.s3DataSource.s3Uri"


def test_references_in_a_realistic_spec() -> None:
    assert references.references(SPEC) == [
        Reference("algorithmSpecification.trainingImage", Kind.IMAGE, IMAGE),
        Reference(
            "algorithmSpecification.trainingImageConfig.trainingRepositoryAuthConfig."
            "trainingRepositoryCredentialsProviderArn",
            Kind.ARN,
            LAMBDA,
        ),
        Reference("roleArn", Kind.ROLE, ROLE),
        Reference(f"inputDataConfig[0].{DATA_SOURCE}", Kind.S3, "s3://team-a/data/train"),
        Reference(
            "inputDataConfig[1].dataSource.fileSystemDataSource.fileSystemId",
            Kind.FILE_SYSTEM,
            "fs-0123456789abcdef0",
        ),
        Reference(
            f"inputDataConfig[2].{DATA_SOURCE}",
            Kind.S3,
            "https://team-a.s3.us-east-1.amazonaws.com/data/validation",
        ),
        Reference("outputDataConfig.kmsKeyId", Kind.KMS_KEY, KEY),
        Reference("outputDataConfig.s3OutputPath", Kind.S3, "s3://team-a/output"),
        Reference("resourceConfig.volumeKmsKeyId", Kind.KMS_KEY, KEY),
        Reference("vpcConfig.securityGroupIds[0]", Kind.SECURITY_GROUP, "sg-0123456789abcdef0"),
        Reference("vpcConfig.subnets[0]", Kind.SUBNET, "subnet-0123456789abcdef0"),
        Reference("vpcConfig.subnets[1]", Kind.SUBNET, "subnet-0fedcba9876543210"),
        Reference("checkpointConfig.s3Uri", Kind.S3, "s3://team-a/checkpoints"),
        Reference("debugRuleConfigurations[0].ruleEvaluatorImage", Kind.IMAGE, RULE_IMAGE),
        Reference("debugRuleConfigurations[1].s3OutputPath", Kind.S3, "s3://team-a/rules"),
        Reference("debugRuleConfigurations[1].ruleEvaluatorImage", Kind.IMAGE, RULE_IMAGE),
        Reference("experimentConfig.experimentName", Kind.NAME, "team-a-churn"),
        Reference("experimentConfig.runName", Kind.NAME, "run-7"),
        Reference("sessionChainingConfig.enableSessionTagChaining", Kind.FLAG, "false"),
    ]


def test_reference_paths_and_lists() -> None:
    spec = {
        "resourceConfig": {
            "instancePreferences": [
                {"instanceType": "ml.p5.48xlarge"},
                {"trainingPlanArns": ["arn:plan-1", "arn:plan-2"]},
            ]
        },
        "sessionChainingConfig": {"enableSessionTagChaining": True},
    }
    assert references.references(spec) == [
        Reference(
            "resourceConfig.instancePreferences[1].trainingPlanArns[0]", Kind.ARN, "arn:plan-1"
        ),
        Reference(
            "resourceConfig.instancePreferences[1].trainingPlanArns[1]", Kind.ARN, "arn:plan-2"
        ),
        Reference("sessionChainingConfig.enableSessionTagChaining", Kind.FLAG, "true"),
    ]


def test_values_request_mapping_refuses_are_skipped() -> None:
    spec = {
        "roleArn": 7,
        "vpcConfig": {"subnets": "subnet-1"},
        "outputDataConfig": ["s3://x/y"],
        "sessionChainingConfig": {"enableSessionTagChaining": "true"},
    }
    assert references.references(spec) == []
    assert references.references({}) == []


def test_dotted() -> None:
    assert references.dotted(("inputDataConfig", "[]", "channelName")) == (
        "inputDataConfig[].channelName"
    )
    assert references.dotted(("hyperParameters", "{}")) == "hyperParameters{}"
    assert references.dotted(("roleArn",)) == "roleArn"


# --- S3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "bucket", "key"),
    [
        ("s3://team-a/data/train.csv", "team-a", "data/train.csv"),
        ("s3://team-a", "team-a", ""),
        ("s3://team-a/", "team-a", ""),
        ("s3://my.dotted.bucket/k", "my.dotted.bucket", "k"),
        ("https://team-a.s3.amazonaws.com/data/x", "team-a", "data/x"),
        ("https://team-a.s3.amazonaws.com", "team-a", ""),
        ("https://team-a.s3.us-west-2.amazonaws.com/data/x", "team-a", "data/x"),
        ("https://team-a.s3-us-west-2.amazonaws.com/data/x", "team-a", "data/x"),
        ("https://team-a.s3.cn-north-1.amazonaws.com.cn/data/x", "team-a", "data/x"),
        ("https://team-a.s3.us-gov-west-1.amazonaws.com/data/x", "team-a", "data/x"),
        ("https://s3.amazonaws.com/team-a/data/x", "team-a", "data/x"),
        ("https://s3.us-west-2.amazonaws.com/team-a/data/x", "team-a", "data/x"),
        ("https://s3-us-west-2.amazonaws.com/team-a/data/x", "team-a", "data/x"),
        ("https://s3.cn-northwest-1.amazonaws.com.cn/team-a/x", "team-a", "x"),
        ("https://s3.amazonaws.com/team-a", "team-a", ""),
        ("s3://team-a/a@b/c=d+e", "team-a", "a@b/c=d+e"),
    ],
)
def test_parse_s3_accepts(uri: str, bucket: str, key: str) -> None:
    assert references.parse_s3(uri) == S3Location(bucket, key)


@pytest.mark.parametrize(
    "uri",
    [
        "http://team-a.s3.amazonaws.com/x",  # not TLS
        "S3://team-a/x",  # scheme case
        "s3:/team-a/x",
        "team-a/x",
        "https://team-a.example.com/x",  # another host
        "https://team-a.s3.amazonaws.com.evil.com/x",
        "https://s3.amazonaws.com.evil.com/team-a/x",
        "https://evil.com/team-a.s3.amazonaws.com/x",
        "https://s3.amazonaws.com@evil.com/team-a/x",  # user info
        "https://user@team-a.s3.amazonaws.com/x",
        "https://team-a.s3.amazonaws.com:443/x",  # port
        "https://s3.amazonaws.com:443/team-a/x",
        "https://team-a.s3.amazonaws.com/x?versionId=1",  # query
        "s3://team-a/x?y",
        "s3://team-a/x#frag",
        "s3://team-a%2Fteam-b/x",  # percent-encoded slash in the bucket
        "s3://team-a/data/%2e%2e/x",  # percent-encoded dot segment
        "https://s3.amazonaws.com/team-a/../team-b/x",  # dot segments
        "https://s3.amazonaws.com/team-a/./x",
        "s3://team-a/data/..",
        "https://s3.amazonaws.com/team-a\\..\\team-b/x",  # backslash
        "s3://team-a/a b",  # space
        "s3://team-a/x\n",  # control character
        "https://TEAM-A.s3.amazonaws.com/x",  # host case
        "https://s3.amazonaws.com//team-b/x",  # empty bucket
        "https://s3.amazonaws.com",  # no bucket at all
        "https://team-a.s3.dualstack.us-east-1.amazonaws.com/x",  # endpoints not accepted
        "https://team-a.s3-accelerate.amazonaws.com/x",
        "https://team-a.s3.us-east-99x.amazonaws.com/x",
        "s3://ab/x",  # bucket names outside S3's rules
        "s3://Team-A/x",
        "s3://team_a/x",
        "s3://-team-a/x",
        "s3://team..a/x",
        "s3://192.168.1.1/x",
        "s3://" + "a" * 64 + "/x",
        "s3:///x",
    ],
)
def test_parse_s3_refuses(uri: str) -> None:
    assert references.parse_s3(uri) is None


@pytest.mark.parametrize(
    ("uri", "prefix", "within"),
    [
        ("s3://team-a/x", "s3://team-a", True),
        ("s3://team-a", "s3://team-a", True),
        ("s3://team-a/x", "s3://team-a/", True),
        ("s3://team-a-evil/x", "s3://team-a", False),
        ("s3://team-a.evil/x", "s3://team-a", False),
        ("s3://team-b/team-a/x", "s3://team-a", False),
        ("s3://team-a/data", "s3://team-a/data", True),
        ("s3://team-a/data/x", "s3://team-a/data", True),
        ("s3://team-a/data/", "s3://team-a/data", True),
        ("s3://team-a/data2/x", "s3://team-a/data", False),
        ("s3://team-a/dat", "s3://team-a/data", False),
        ("s3://team-a", "s3://team-a/data", False),
        ("s3://team-a/", "s3://team-a/data", False),
        ("s3://team-a/data/x", "s3://team-a/data/", True),
        ("s3://team-a/data", "s3://team-a/data/", False),
        ("s3://team-a/data/sub/x", "s3://team-a/data/sub", True),
        ("s3://team-a/data/subway/x", "s3://team-a/data/sub", False),
        ("https://s3.us-east-1.amazonaws.com/team-a/data/x", "s3://team-a/data", True),
        ("https://team-a.s3.amazonaws.com/data2", "s3://team-a/data", False),
    ],
)
def test_s3_within(uri: str, prefix: str, within: bool) -> None:
    location = references.parse_s3(uri)
    assert location is not None
    assert references.s3_within(location, prefix) is within


@pytest.mark.parametrize(
    "prefix", ["team-a", "https://s3.amazonaws.com/team-a", "s3://team_a", "s3://team-a/../b", ""]
)
def test_s3_within_refuses_a_malformed_prefix(prefix: str) -> None:
    with pytest.raises(ValueError, match="not an S3 prefix"):
        references.s3_within(S3Location("team-a", "x"), prefix)


# --- Regions ----------------------------------------------------------------------------------


def test_sagemaker_regions() -> None:
    regions = references.sagemaker_regions()
    assert {"us-east-1", "eu-west-1", "cn-north-1", "us-gov-west-1"} <= regions
    assert "us-east-99" not in regions
    assert all(r == r.lower() and " " not in r for r in regions)
    assert references.sagemaker_regions() is regions  # cached
