import datetime
import json
import math

import pytest

from sagemaker_operator.resource import status

T0 = datetime.datetime(2024, 6, 1, 12, 0, 0, tzinfo=datetime.UTC)
PLUS_TWO = datetime.timezone(datetime.timedelta(hours=2))
LOCAL = datetime.datetime(2024, 6, 1, 14, 0, 30, 250000, tzinfo=PLUS_TWO)

DESCRIPTION = {
    "TrainingJobName": "xgb-1",
    "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:training-job/xgb-1",
    "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/xgb-1/output/model.tar.gz"},
    "TrainingJobStatus": "Completed",
    "SecondaryStatus": "Completed",
    "HyperParameters": {"eta": "0.2"},
    "RoleArn": "arn:aws:iam::123456789012:role/R",
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "CreationTime": T0,
    "TrainingStartTime": LOCAL,
    "TrainingEndTime": T0 + datetime.timedelta(minutes=5),
    "LastModifiedTime": T0 + datetime.timedelta(minutes=6),
    "SecondaryStatusTransitions": [
        {"Status": "Starting", "StartTime": T0, "EndTime": LOCAL, "StatusMessage": "Preparing"},
        {"Status": "Training", "StartTime": LOCAL},
    ],
    "FinalMetricDataList": [
        {"MetricName": "validation:auc", "Value": 0.91, "Timestamp": T0},
        {"MetricName": "broken", "Value": math.nan, "Timestamp": T0},
    ],
    "TrainingTimeInSeconds": 300,
    "BillableTimeInSeconds": 120,
    "WarmPoolStatus": {"Status": "Available", "ResourceRetainedBillableTimeInSeconds": 10},
    "ResponseMetadata": {"RequestId": "abc", "HTTPStatusCode": 200},
}


def test_status_follows_the_model() -> None:
    result = status.status_from_description(DESCRIPTION)
    assert result["trainingJobName"] == "xgb-1"
    assert result["modelArtifacts"] == {"s3ModelArtifacts": "s3://b/out/xgb-1/output/model.tar.gz"}
    assert result["creationTime"] == "2024-06-01T12:00:00Z"
    assert result["trainingStartTime"] == "2024-06-01T12:00:30.250000Z"
    assert result["secondaryStatusTransitions"][0] == {
        "status": "Starting",
        "startTime": "2024-06-01T12:00:00Z",
        "endTime": "2024-06-01T12:00:30.250000Z",
        "statusMessage": "Preparing",
    }
    assert result["finalMetricDataList"][0]["value"] == 0.91
    assert "value" not in result["finalMetricDataList"][1]  # NaN has no JSON form
    assert result["warmPoolStatus"]["resourceRetainedBillableTimeInSeconds"] == 10
    assert result["trainingTimeInSeconds"] == 300


def test_status_drops_what_it_does_not_carry() -> None:
    result = status.status_from_description(DESCRIPTION)
    assert "responseMetadata" not in result
    assert "ResponseMetadata" not in result
    assert "hyperParameters" not in result
    assert "roleArn" not in result
    assert "failureReason" not in result
    json.dumps(result, allow_nan=False)


@pytest.mark.parametrize(
    ("sagemaker", "phase"),
    [
        (None, "Pending"),
        ("InProgress", "InProgress"),
        ("Stopping", "Stopping"),
        ("Completed", "Completed"),
        ("Failed", "Failed"),
        ("Stopped", "Stopped"),
        ("Deleting", "Stopping"),
    ],
)
def test_phase(sagemaker: str | None, phase: str) -> None:
    assert status.phase_for(sagemaker) == phase
    assert phase in status.PHASES


def test_every_training_job_status_has_a_phase() -> None:
    from sagemaker_operator.resource import model

    assert set(model.service_model().shape_for("TrainingJobStatus").enum) == set(
        status.PHASE_OF_STATUS
    )


def test_logs_url() -> None:
    url = status.logs_url("eu-west-1", "xgb-1")
    assert url.startswith(
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1"
    )
    assert "group=/aws/sagemaker/TrainingJobs;prefix=xgb-1;" in url
    assert status.logs_url("cn-north-1", "j").startswith("https://cn-north-1.console.amazonaws.cn/")


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert status.rfc3339(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
