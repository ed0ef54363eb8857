import datetime
import json
import math

from sagemaker_operator.resource import described

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
    result = described.status_from_description(DESCRIPTION)
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
    result = described.status_from_description(DESCRIPTION)
    assert "responseMetadata" not in result
    assert "ResponseMetadata" not in result
    assert "hyperParameters" not in result
    assert "roleArn" not in result
    assert "failureReason" not in result
    json.dumps(result, allow_nan=False)


def test_naive_timestamps_are_taken_as_utc() -> None:
    assert described.rfc3339(datetime.datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05Z"
