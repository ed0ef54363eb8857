"""The emulator's CloudWatch Logs, through boto3's own ``logs`` client, on a hand clock."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config

from sagemaker_operator.emulator import logs, server, settings, testing
from sagemaker_operator.emulator.validation import Validator
from tests.emulator.jobs import HandClock, error_of, request

GROUP = logs.GROUP
SCALE = settings.TEST_TIME_SCALE
TRAINING_STARTS = (60 + 30) * SCALE  # Starting + Downloading, scaled
TRAINING_ENDS = TRAINING_STARTS + 180 * SCALE


def logs_client(url: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        "logs",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="emulator",
        aws_secret_access_key="emulator",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


@pytest.fixture
def cw(sagemaker_emulator: testing.Running) -> Any:
    return logs_client(sagemaker_emulator.url)


def two_hosts(name: str, **fate: str) -> dict[str, Any]:
    body = request(name, fate=fate or None)
    body["ResourceConfig"]["InstanceCount"] = 2
    return body


def every_event(cw: Any, stream: str) -> list[dict[str, Any]]:
    """Read forward until the same token comes back."""
    page = cw.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    events = list(page["events"])
    while True:
        token = page["nextForwardToken"]
        page = cw.get_log_events(
            logGroupName=GROUP, logStreamName=stream, nextToken=token, startFromHead=True
        )
        events.extend(page["events"])
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            return events


def raw(url: str, operation: str, body: dict[str, Any]) -> dict[str, Any]:
    call = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={
            "X-Amz-Target": f"Logs_20140328.{operation}",
            "Content-Type": "application/x-amz-json-1.1",
        },
    )
    with urllib.request.urlopen(call, timeout=10) as answer:
        result: dict[str, Any] = json.loads(answer.read())
        return result


def test_no_streams_before_training_then_one_per_host_named_as_sagemaker_names_them(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    sagemaker_client.create_training_job(**two_hosts("two"))
    clock.advance(TRAINING_STARTS - 0.01)
    found = cw.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="two/")
    assert found["logStreams"] == []
    clock.advance(0.02)
    streams = cw.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="two/")["logStreams"]
    epoch = int(clock.now - 0.01)
    assert [s["logStreamName"] for s in streams] == [f"two/algo-1-{epoch}", f"two/algo-2-{epoch}"]


def test_answers_match_botocores_output_shapes(
    sagemaker_emulator: testing.Running, sagemaker_client: Any, clock: HandClock
) -> None:
    sagemaker_client.create_training_job(**two_hosts("shapes"))
    clock.advance(TRAINING_ENDS + 1)
    model = server.load_model("logs")
    validator = Validator(model)
    url = sagemaker_emulator.url
    streams = raw(url, "DescribeLogStreams", {"logGroupName": GROUP, "logStreamNamePrefix": "sh"})
    stream = streams["logStreams"][0]["logStreamName"]
    answers = {
        "DescribeLogStreams": streams,
        "GetLogEvents": raw(url, "GetLogEvents", {"logGroupName": GROUP, "logStreamName": stream}),
        "FilterLogEvents": raw(
            url, "FilterLogEvents", {"logGroupName": GROUP, "filterPattern": "epoch", "limit": 5}
        ),
    }
    for operation, answer in answers.items():
        shape = model.operation_model(operation).output_shape
        assert shape is not None
        assert set(answer) <= set(shape.members), operation
        assert validator.problems(shape, answer) == ([], []), operation
    assert answers["FilterLogEvents"]["events"]
    assert "nextToken" in answers["FilterLogEvents"]


def test_forward_and_backward_tokens_and_the_end_of_the_stream(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    sagemaker_client.create_training_job(**request("tokens"))
    clock.advance(TRAINING_STARTS + 90 * SCALE + 0.001)  # half way through Training
    (stream,) = cw.describe_log_streams(logGroupName=GROUP)["logStreams"]
    name = stream["logStreamName"]
    so_far = every_event(cw, name)
    assert 80 <= len(so_far) <= 95
    # By default (startFromHead false) the latest events come, oldest first.
    last = cw.get_log_events(logGroupName=GROUP, logStreamName=name, limit=5)
    assert last["events"] == so_far[-5:]
    back = cw.get_log_events(
        logGroupName=GROUP, logStreamName=name, nextToken=last["nextBackwardToken"], limit=5
    )
    assert back["events"] == so_far[-10:-5]
    # At the head, going back gives nothing and the same token.
    head = cw.get_log_events(logGroupName=GROUP, logStreamName=name, startFromHead=True, limit=3)
    again = cw.get_log_events(
        logGroupName=GROUP, logStreamName=name, nextToken=head["nextBackwardToken"]
    )
    assert again["events"] == []
    assert again["nextBackwardToken"] == head["nextBackwardToken"]
    # The stream grows: the forward token at the end picks up where it stopped, each once.
    end = cw.get_log_events(logGroupName=GROUP, logStreamName=name, startFromHead=True)
    assert end["events"] == so_far
    clock.advance(TRAINING_ENDS)
    rest = cw.get_log_events(
        logGroupName=GROUP,
        logStreamName=name,
        nextToken=end["nextForwardToken"],
        startFromHead=True,
    )
    assert rest["events"]
    assert rest["events"][0]["timestamp"] >= so_far[-1]["timestamp"]
    assert so_far + rest["events"] == every_event(cw, name)
    # Time range: startTime included, endTime excluded.
    middle = so_far[40]["timestamp"]
    ranged = cw.get_log_events(
        logGroupName=GROUP,
        logStreamName=name,
        startTime=middle,
        endTime=middle + 1,
        startFromHead=True,
    )["events"]
    assert ranged
    assert all(e["timestamp"] == middle for e in ranged)


def test_metric_lines_agree_with_the_final_metrics_in_describe(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    definitions = [
        {"Name": "validation:accuracy", "Regex": r"validation-accuracy: ([0-9\.]+)"},
        {"Name": "train:loss", "Regex": r"Train_loss=(.*?);"},
        {"Name": "epoch:time", "Regex": r"^epoch_time\s+([0-9.]+)s$"},
    ]
    body = request("metrics")
    body["AlgorithmSpecification"]["MetricDefinitions"] = definitions
    sagemaker_client.create_training_job(**body)
    clock.advance(TRAINING_ENDS + 1)
    final = sagemaker_client.describe_training_job(TrainingJobName="metrics")
    assert final["TrainingJobStatus"] == "Completed"
    (stream, *_) = cw.describe_log_streams(logGroupName=GROUP)["logStreams"]
    messages = [e["message"] for e in every_event(cw, stream["logStreamName"])]
    for metric in final["FinalMetricDataList"]:
        (regex,) = [d["Regex"] for d in definitions if d["Name"] == metric["MetricName"]]
        values = [float(m.group(1)) for line in messages if (m := re.search(regex, line))]
        assert len(values) > 1, metric  # intermediate values, then the final one
        assert values[-1] == metric["Value"], metric


def test_a_failed_job_logs_its_failure_reason_on_the_host_it_names(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    reason = "AlgorithmError: ExecuteUserScriptError on algo-2: CUDA out of memory"
    sagemaker_client.create_training_job(
        **two_hosts("broken", outcome="Failed", **{"failure-reason": reason})
    )
    clock.advance(TRAINING_ENDS + 1)
    assert sagemaker_client.describe_training_job(TrainingJobName="broken")["FailureReason"] == (
        reason
    )
    streams = [
        s["logStreamName"] for s in cw.describe_log_streams(logGroupName=GROUP)["logStreams"]
    ]
    first, second = (every_event(cw, name) for name in streams)
    assert second[-1]["message"] == reason
    assert first[-1]["message"] == "Stopping: algo-2 failed."


def test_lines_per_second_tag(sagemaker_client: Any, cw: Any, clock: HandClock) -> None:
    sagemaker_client.create_training_job(**request("slow"))
    sagemaker_client.create_training_job(**request("fast", fate={"log-lines-per-second": "10"}))
    clock.advance(TRAINING_ENDS + 1)
    counts = {}
    for stream in cw.describe_log_streams(logGroupName=GROUP)["logStreams"]:
        counts[stream["logStreamName"].split("/")[0]] = len(
            every_event(cw, stream["logStreamName"])
        )
    assert counts["fast"] > 9 * counts["slow"]
    code, message, _ = error_of(
        sagemaker_client.create_training_job, **request("bad", fate={"log-lines-per-second": "0"})
    )
    assert code == "ValidationException"
    assert "log-lines-per-second" in message


def test_describe_log_streams_orders_pages_and_refuses_what_aws_refuses(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    for name in ("b-job", "a-job", "c-job"):
        sagemaker_client.create_training_job(**request(name))
        clock.advance(0.01)
    clock.advance(TRAINING_STARTS + 0.1)
    by_name = cw.describe_log_streams(logGroupName=GROUP, limit=2)
    assert [s["logStreamName"][0] for s in by_name["logStreams"]] == ["a", "b"]
    rest = cw.describe_log_streams(logGroupName=GROUP, limit=2, nextToken=by_name["nextToken"])
    assert [s["logStreamName"][0] for s in rest["logStreams"]] == ["c"]
    assert "nextToken" not in rest
    latest = cw.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"][0] for s in latest["logStreams"]] == ["b", "a", "c"]
    code, _, _ = error_of(
        cw.describe_log_streams,
        logGroupName=GROUP,
        orderBy="LastEventTime",
        logStreamNamePrefix="a",
    )
    assert code == "InvalidParameterException"
    assert error_of(cw.describe_log_streams, logGroupName="/aws/other")[0] == (
        "ResourceNotFoundException"
    )
    assert error_of(cw.get_log_events, logGroupName=GROUP, logStreamName="a-job/algo-9-1")[0] == (
        "ResourceNotFoundException"
    )


def test_filter_log_events_interleaves_streams_and_matches_terms_and_phrases(
    sagemaker_client: Any, cw: Any, clock: HandClock
) -> None:
    sagemaker_client.create_training_job(**two_hosts("filtered"))
    clock.advance(TRAINING_ENDS + 1)
    everything = cw.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="filtered/")
    events = everything["events"]
    assert {e["logStreamName"].split("/")[1][:6] for e in events} == {"algo-1", "algo-2"}
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    phrase = cw.filter_log_events(logGroupName=GROUP, filterPattern='"step 7/50" epoch')
    assert {e["logStreamName"].split("/")[1][:6] for e in phrase["events"]} == {"algo-1", "algo-2"}
    assert all("step 7/50" in e["message"] for e in phrase["events"])
    none = cw.filter_log_events(logGroupName=GROUP, filterPattern='"step 7/50" nowhere')
    assert none["events"] == []
    excluded = cw.filter_log_events(logGroupName=GROUP, filterPattern="Training -image")
    assert [e["message"] for e in excluded["events"]] == ["Training complete."] * 2
    paged, token, pages = [], None, 0
    while True:
        page = cw.filter_log_events(
            logGroupName=GROUP, limit=50, **({"nextToken": token} if token else {})
        )
        paged.extend(page["events"])
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    assert pages > 2
    assert [e["eventId"] for e in paged] == [e["eventId"] for e in events]


def test_logs_calls_are_throttled_by_their_own_buckets(
    sagemaker_emulator: testing.Running,
    sagemaker_client: Any,
    cw: Any,
    clock: HandClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sagemaker_emulator.emulator.faults, "clock", clock)
    sagemaker_emulator.admin.set_faults(throttling=True)
    outcomes = []
    for _ in range(7):
        try:
            cw.describe_log_streams(logGroupName=GROUP)
            outcomes.append("ok")
        except cw.exceptions.ClientError as error:
            outcomes.append(error.response["Error"]["Code"])
    assert outcomes == ["ok"] * 5 + ["ThrottlingException"] * 2  # 5/s, burst 5
    assert sagemaker_emulator.admin.calls("DescribeLogStreams", "ThrottlingException") == 2
    clock.advance(0.2)
    cw.describe_log_streams(logGroupName=GROUP)  # a token is back
