import datetime
from pathlib import Path
from typing import Any

import pytest
from botocore import validate

from sagemaker_operator import names
from sagemaker_operator.resource import model, request
from tests.resource import shapes

TAGS = {names.TAG_NAMESPACE: "ml", names.TAG_NAME: "job", names.TAG_UID: "0000-1111"}


def _spec(name: str) -> dict[str, Any]:
    spec: dict[str, Any] = shapes.load_example(shapes.EXAMPLES / name)["spec"]
    return spec


def _valid(shape: model.Shape, params: dict[str, Any]) -> None:
    # botocore's own client-side validation: required members, types, minimums.
    validate.validate_parameters(params, shape)


@pytest.mark.parametrize("path", shapes.example_paths(), ids=lambda p: p.name)
def test_every_example_maps_to_a_valid_request(path: Path) -> None:
    spec = shapes.load_example(path)["spec"]
    params = request.create_request(spec, job_name="job-1", tags=TAGS)
    _valid(model.create_input(), params)
    assert params["TrainingJobName"] == "job-1"
    assert "region" not in params
    assert "Region" not in params
    assert "deletionPolicy" not in params
    assert "DeletionPolicy" not in params


def test_request_uses_member_names_and_restores_types() -> None:
    spec = _spec("pytorch-distributed-spot.yaml")
    spec["resourceConfig"]["instanceCount"] = 4.0  # JSON numbers may come back as floats
    params = request.create_request(spec, job_name="resnet", tags={})
    assert params["RoleArn"] == spec["roleArn"]
    assert params["ResourceConfig"]["InstanceCount"] == 4
    assert type(params["ResourceConfig"]["InstanceCount"]) is int
    assert params["EnableManagedSpotTraining"] is True
    assert params["StoppingCondition"] == {
        "MaxRuntimeInSeconds": 172800,
        "MaxWaitTimeInSeconds": 259200,
    }
    assert params["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] == (
        "s3://example-imagenet/train/"
    )
    assert params["Environment"] == {"NCCL_DEBUG": "WARN", "TORCH_DISTRIBUTED_DEBUG": "OFF"}
    assert params["AlgorithmSpecification"]["ContainerEntrypoint"] == ["torchrun"]


def test_the_operator_job_name_wins_and_provenance_tags_follow_user_tags() -> None:
    spec = _spec("xgboost-builtin.yaml")
    spec["trainingJobName"] = "from-spec"
    spec["tags"].append({"key": names.TAG_UID, "value": "forged"})
    params = request.create_request(spec, job_name="settled", tags=TAGS)
    assert params["TrainingJobName"] == "settled"
    assert params["Tags"] == [
        {"Key": "team", "Value": "growth"},
        {"Key": "cost-center", "Value": "4711"},
        *({"Key": k, "Value": v} for k, v in TAGS.items()),
    ]


def test_no_tags_at_all_leaves_tags_out() -> None:
    params = request.create_request(_spec("minimal.yaml"), job_name="m", tags={})
    assert "Tags" not in params


@pytest.mark.parametrize(
    ("mutate", "where"),
    [
        (lambda s: s.update(notAMember=1), "notAMember"),
        (lambda s: s["resourceConfig"].update(instanceCount="4"), "resourceConfig.instanceCount"),
        (lambda s: s["resourceConfig"].update(instanceCount=1.5), "resourceConfig.instanceCount"),
        (lambda s: s.update(enableNetworkIsolation="true"), "enableNetworkIsolation"),
        (lambda s: s["hyperParameters"].update(num_round=10), "hyperParameters.num_round"),
    ],
)
def test_a_spec_that_does_not_fit_the_model_is_refused(mutate: Any, where: str) -> None:
    spec = _spec("minimal.yaml")
    mutate(spec)
    with pytest.raises(request.MappingError) as caught:
        request.create_request(spec, job_name="m", tags={})
    assert caught.value.path == where


def test_timestamps_and_floats_are_restored_by_the_shape() -> None:
    shape = model.describe_output().members["FinalMetricDataList"]
    value = request.to_request(
        shape, [{"metricName": "auc", "value": 1, "timestamp": "2024-06-01T12:00:00Z"}]
    )
    assert value == [
        {
            "MetricName": "auc",
            "Value": 1.0,
            "Timestamp": datetime.datetime(2024, 6, 1, 12, tzinfo=datetime.UTC),
        }
    ]
    assert type(value[0]["Value"]) is float


# --- update_request ---------------------------------------------------------------------


def test_unchanged_spec_needs_no_update() -> None:
    spec = _spec("debugger-profiler.yaml")
    assert request.update_request(spec, _spec("debugger-profiler.yaml"), job_name="j") is None


def test_deletion_policy_is_the_operators_alone() -> None:
    old = _spec("debugger-profiler.yaml")
    new = {**old, "deletionPolicy": "Retain"}
    assert request.update_request(old, new, job_name="j") is None


def test_keep_alive_change_becomes_a_resource_config_update() -> None:
    old = _spec("debugger-profiler.yaml")
    new = _spec("debugger-profiler.yaml")
    new["resourceConfig"]["keepAlivePeriodInSeconds"] = 1800
    params = request.update_request(old, new, job_name="bert")
    assert params == {
        "TrainingJobName": "bert",
        "ResourceConfig": {"KeepAlivePeriodInSeconds": 1800},
    }
    _valid(model.update_input(), params)


def test_profiler_changes_are_sent_whole() -> None:
    old = _spec("debugger-profiler.yaml")
    new = _spec("debugger-profiler.yaml")
    new["profilerConfig"]["disableProfiler"] = True
    new["profilerRuleConfigurations"] = []
    new["remoteDebugConfig"] = {"enableRemoteDebug": True}
    params = request.update_request(old, new, job_name="bert")
    assert params is not None
    _valid(model.update_input(), params)
    assert params["ProfilerConfig"]["DisableProfiler"] is True
    assert params["ProfilerConfig"]["ProfilingIntervalInMilliseconds"] == 500
    assert params["ProfilerRuleConfigurations"] == []
    assert params["RemoteDebugConfig"] == {"EnableRemoteDebug": True}
    assert set(params) == {
        "TrainingJobName",
        "ProfilerConfig",
        "ProfilerRuleConfigurations",
        "RemoteDebugConfig",
    }


@pytest.mark.parametrize(
    ("mutate", "fields"),
    [
        (lambda s: s["hyperParameters"].update(eta="0.3"), ("hyperParameters",)),
        (lambda s: s["resourceConfig"].update(instanceCount=2), ("resourceConfig.instanceCount",)),
        (
            lambda s: s["resourceConfig"].pop("keepAlivePeriodInSeconds"),
            ("resourceConfig.keepAlivePeriodInSeconds",),
        ),
        (lambda s: s.pop("profilerConfig"), ("profilerConfig",)),
        (lambda s: s.update(region="eu-west-1"), ("region",)),
        (lambda s: s.update(trainingJobName="renamed"), ("trainingJobName",)),
        (lambda s: s.update(enableManagedSpotTraining=True), ("enableManagedSpotTraining",)),
        (
            lambda s: (
                s.update(roleArn="arn:aws:iam::123456789012:role/Other"),
                s["resourceConfig"].update(volumeSizeInGB=1),
            ),
            ("resourceConfig.volumeSizeInGB", "roleArn"),
        ),
    ],
)
def test_changes_update_training_job_cannot_make_are_refused(
    mutate: Any, fields: tuple[str, ...]
) -> None:
    old = _spec("xgboost-builtin.yaml")
    old["resourceConfig"]["keepAlivePeriodInSeconds"] = 60
    old["profilerConfig"] = {"s3OutputPath": "s3://b/p/"}
    new = {k: (v.copy() if isinstance(v, dict) else v) for k, v in old.items()}
    mutate(new)
    with pytest.raises(request.ImmutableFieldChanged) as caught:
        request.update_request(old, new, job_name="j")
    assert caught.value.fields == fields
    for field in fields:
        assert field in str(caught.value)


def test_an_immutable_change_is_reported_even_beside_an_allowed_one() -> None:
    old = _spec("debugger-profiler.yaml")
    new = _spec("debugger-profiler.yaml")
    new["resourceConfig"]["keepAlivePeriodInSeconds"] = 60
    new["stoppingCondition"]["maxRuntimeInSeconds"] = 60
    with pytest.raises(request.ImmutableFieldChanged) as caught:
        request.update_request(old, new, job_name="j")
    assert caught.value.fields == ("stoppingCondition",)
