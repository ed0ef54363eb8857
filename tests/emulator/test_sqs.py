"""The emulator's SQS, through boto3's own ``sqs`` client, on a hand clock."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import botocore.session
import pytest

from sagemaker_operator.emulator import settings, sqs, testing
from tests.emulator.jobs import error_of, wait_for
from tests.emulator.queues import Background, Harness, long_poll, sqs_client_for


def receive_count(message: dict[str, Any]) -> int:
    return int(message["Attributes"]["ApproximateReceiveCount"])


def raw_call(harness: Harness, operation: str, body: dict[str, Any]) -> tuple[int, Any, str]:
    """Status, JSON answer and x-amzn-query-error of a request botocore would not send."""
    request = urllib.request.Request(
        harness.running.url + "/",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "X-Amz-Target": f"AmazonSQS.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), ""
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers.get("x-amzn-query-error", "")


def test_botocore_speaks_json_1_0_to_sqs() -> None:
    """What the routing on X-Amz-Target and the content type rest on."""
    metadata = botocore.session.get_session().get_service_model("sqs").metadata
    assert metadata["protocol"] == "json"
    assert metadata["jsonVersion"] == "1.0"
    assert metadata["targetPrefix"] + "." == sqs.TARGET_PREFIX


def test_queue_urls_and_an_unknown_queue(harness: Harness) -> None:
    url = harness.queue("work")
    assert url == f"{harness.running.url}/123456789012/work"
    assert harness.sqs.get_queue_url(QueueName="work")["QueueUrl"] == url
    assert harness.sqs.create_queue(QueueName="work")["QueueUrl"] == url  # the same again

    with pytest.raises(harness.sqs.exceptions.QueueDoesNotExist) as raised:
        harness.sqs.get_queue_url(QueueName="missing")
    error = raised.value.response["Error"]
    assert error["Code"] == "AWS.SimpleQueueService.NonExistentQueue"  # the Query code
    assert error["QueryErrorCode"] == "QueueDoesNotExist"  # the model's shape
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400

    missing = url.replace("/work", "/missing")
    code, _, status = error_of(harness.sqs.receive_message, QueueUrl=missing)
    assert (code, status) == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    other_account = url.replace("123456789012", "210987654321")
    code, _, _ = error_of(harness.sqs.purge_queue, QueueUrl=other_account)
    assert code == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_queue_name_again_with_other_attributes_is_refused(harness: Harness) -> None:
    harness.queue("attrs", VisibilityTimeout="10")
    with pytest.raises(harness.sqs.exceptions.QueueNameExists) as raised:
        harness.sqs.create_queue(QueueName="attrs", Attributes={"VisibilityTimeout": "20"})
    assert raised.value.response["Error"]["Code"] == "QueueAlreadyExists"
    code, _, _ = error_of(harness.sqs.create_queue, QueueName="bad name!")
    assert code == "InvalidParameterValue"
    code, message, _ = error_of(
        harness.sqs.create_queue, QueueName="slow", Attributes={"VisibilityTimeout": "43201"}
    )
    assert code == "InvalidParameterValue"
    assert "VisibilityTimeout" in message


def test_a_received_message_is_invisible_until_its_visibility_timeout_then_comes_back(
    harness: Harness,
) -> None:
    url = harness.queue("visibility")  # default VisibilityTimeout: 30 s
    sent = harness.sqs.send_message(QueueUrl=url, MessageBody="hello")
    first = harness.receive(url, MessageSystemAttributeNames=["All"])
    assert [m["MessageId"] for m in first] == [sent["MessageId"]]
    assert first[0]["Body"] == "hello"
    assert first[0]["MD5OfBody"] == sent["MD5OfMessageBody"] == sqs.md5_hex("hello")
    assert receive_count(first[0]) == 1
    assert first[0]["Attributes"]["SentTimestamp"] == "1700000000000"

    assert harness.receive(url) == []  # in flight
    assert harness.counts("visibility") == {
        "visible": 0,
        "inFlight": 1,
        "delayed": 0,
        "waiting": 0,
    }
    harness.advance(29.999)
    assert harness.receive(url) == []
    harness.advance(0.001)
    again = harness.receive(url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert [m["MessageId"] for m in again] == [sent["MessageId"]]
    assert receive_count(again[0]) == 2
    assert again[0]["ReceiptHandle"] != first[0]["ReceiptHandle"]

    # The first receive's handle is stale: the call succeeds and deletes nothing.
    harness.sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert harness.counts("visibility")["inFlight"] == 1
    harness.sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    assert harness.counts("visibility")["inFlight"] == 0
    harness.advance(60)
    assert harness.receive(url) == []  # deleted for good
    # Deleting it again is no error, as SQS allows.
    harness.sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])


def test_visibility_timeout_per_request_and_per_queue(harness: Harness) -> None:
    url = harness.queue("short", VisibilityTimeout="5")
    harness.sqs.send_message(QueueUrl=url, MessageBody="a")
    assert len(harness.receive(url)) == 1
    harness.advance(5)
    assert len(harness.receive(url, VisibilityTimeout=100)) == 1  # the request's, not the queue's
    harness.advance(99)
    assert harness.receive(url) == []
    harness.advance(1)
    assert len(harness.receive(url, VisibilityTimeout=0)) == 1
    assert len(harness.receive(url)) == 1  # 0: visible again at once


def test_change_message_visibility(harness: Harness) -> None:
    url = harness.queue("change")
    harness.sqs.send_message(QueueUrl=url, MessageBody="a")
    [message] = harness.receive(url)
    handle = message["ReceiptHandle"]
    harness.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=300)
    harness.advance(299)
    assert harness.receive(url) == []
    harness.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    [back] = harness.receive(url)
    assert back["MessageId"] == message["MessageId"]
    # The old handle no longer names a message in flight.
    code, text, _ = error_of(
        harness.sqs.change_message_visibility,
        QueueUrl=url,
        ReceiptHandle=handle,
        VisibilityTimeout=10,
    )
    assert code == "InvalidParameterValue"
    assert "not available for visibility timeout change" in text


def test_at_most_max_number_of_messages_per_receive(harness: Harness) -> None:
    url = harness.queue("many")
    for i in range(15):
        harness.sqs.send_message(QueueUrl=url, MessageBody=str(i))
    assert len(harness.receive(url)) == 1  # default 1
    assert len(harness.receive(url, MaxNumberOfMessages=10)) == 10
    assert [m["Body"] for m in harness.receive(url, MaxNumberOfMessages=10)] == [
        str(i) for i in range(11, 15)
    ]


def test_delete_message_batch_reports_each_entry(harness: Harness) -> None:
    url = harness.queue("batch")
    for i in range(3):
        harness.sqs.send_message(QueueUrl=url, MessageBody=str(i))
    received = harness.receive(url, MaxNumberOfMessages=10)
    entries = [{"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(received)]
    entries.append({"Id": "bogus", "ReceiptHandle": "not-a-handle"})
    answer = harness.sqs.delete_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(e["Id"] for e in answer["Successful"]) == ["m0", "m1", "m2"]
    assert answer["Failed"] == [
        {
            "Id": "bogus",
            "SenderFault": True,
            "Code": "ReceiptHandleIsInvalid",
            "Message": 'The input receipt handle "not-a-handle" is not a valid receipt handle.',
        }
    ]
    assert harness.counts("batch")["inFlight"] == 0
    harness.advance(31)
    assert harness.receive(url) == []


@pytest.mark.parametrize(
    ("entries", "code"),
    [
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        (
            [{"Id": str(i), "ReceiptHandle": "h"} for i in range(11)],
            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        ),
        (
            [{"Id": "same", "ReceiptHandle": "h"}, {"Id": "same", "ReceiptHandle": "h"}],
            "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
        ),
        ([{"Id": "no spaces", "ReceiptHandle": "h"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
    ],
)
def test_delete_message_batch_refusals(
    harness: Harness, entries: list[dict[str, str]], code: str
) -> None:
    url = harness.queue("refusals")
    assert error_of(harness.sqs.delete_message_batch, QueueUrl=url, Entries=entries)[0] == code


def test_receipt_handles_the_emulator_never_issued(harness: Harness) -> None:
    url = harness.queue("handles")
    other = harness.queue("other")
    harness.sqs.send_message(QueueUrl=other, MessageBody="a")
    [foreign] = harness.receive(other)
    for handle in ("garbage", foreign["ReceiptHandle"]):
        with pytest.raises(harness.sqs.exceptions.ReceiptHandleIsInvalid) as raised:
            harness.sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
        assert raised.value.response["Error"]["Code"] == "ReceiptHandleIsInvalid"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"MaxNumberOfMessages": 11}, "Value 11 for parameter MaxNumberOfMessages is invalid."),
        ({"MaxNumberOfMessages": 0}, "Value 0 for parameter MaxNumberOfMessages is invalid."),
        ({"WaitTimeSeconds": 21}, "Value 21 for parameter WaitTimeSeconds is invalid."),
        ({"VisibilityTimeout": 43201}, "Value 43201 for parameter VisibilityTimeout is invalid."),
    ],
)
def test_receive_ranges_are_enforced(
    harness: Harness, params: dict[str, int], message: str
) -> None:
    url = harness.queue("ranges")
    harness.sqs.send_message(QueueUrl=url, MessageBody="a")
    code, text, status = error_of(harness.sqs.receive_message, QueueUrl=url, **params)
    assert (code, status) == ("InvalidParameterValue", 400)
    assert text.startswith(message)
    assert harness.counts("ranges")["visible"] == 1  # nothing was received


@pytest.mark.parametrize(
    ("with_url", "body", "problem"),
    [
        (True, {"MaxNumberOfMessages": "ten"}, "Expected an integer at 'maxNumberOfMessages'"),
        (False, {}, "Value null at 'queueUrl' failed to satisfy constraint: Member must not be"),
        (True, {"AttributeNames": ["Everything"]}, "Member must satisfy enum value set"),
    ],
)
def test_requests_are_checked_against_botocores_sqs_model(
    harness: Harness, with_url: bool, body: dict[str, Any], problem: str
) -> None:
    """Requests botocore's own client-side checks would stop, sent raw."""
    url = harness.queue("model")
    harness.sqs.send_message(QueueUrl=url, MessageBody="a")
    body = ({"QueueUrl": url} if with_url else {}) | body
    status, answer, query_error = raw_call(harness, "ReceiveMessage", body)
    assert harness.counts("model")["visible"] == 1  # nothing was received
    assert status == 400
    assert query_error == "InvalidParameterValue;Sender"
    assert problem in answer["message"]


def test_an_operation_not_emulated(harness: Harness) -> None:
    status, answer, query_error = raw_call(harness, "ListQueues", {})
    assert status == 400
    assert answer["__type"] == "com.amazonaws.sqs#UnsupportedOperation"
    assert query_error == "AWS.SimpleQueueService.UnsupportedOperation;Sender"


def test_long_poll_returns_as_soon_as_a_message_arrives_and_the_server_serves_others_meanwhile(
    harness: Harness,
) -> None:
    url = harness.queue("long")
    poll = long_poll(harness, url, wait=20)
    # The emulator holds the receive open and still answers everything else.
    assert harness.sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
    assert harness.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"] == {"ApproximateNumberOfMessages": "0"}
    sent = harness.sqs.send_message(QueueUrl=url, MessageBody="now")
    messages = poll.result()
    assert [m["MessageId"] for m in messages] == [sent["MessageId"]]
    assert poll.elapsed < 10  # well before the 20 s it could wait


def test_long_poll_wakes_when_a_message_in_flight_comes_back(harness: Harness) -> None:
    url = harness.queue("comeback")
    harness.sqs.send_message(QueueUrl=url, MessageBody="again")
    assert len(harness.receive(url, VisibilityTimeout=30)) == 1
    poll = long_poll(harness, url, wait=20, MessageSystemAttributeNames=["All"])
    harness.advance(30)
    [message] = poll.result()
    assert receive_count(message) == 2
    assert poll.elapsed < 10


def test_long_poll_with_nothing_to_receive_waits_wait_time_seconds(harness: Harness) -> None:
    url = harness.queue("quiet")
    started = time.monotonic()
    assert harness.receive(url, WaitTimeSeconds=1) == []
    assert time.monotonic() - started >= 1.0


def test_queue_attributes_and_delays(harness: Harness) -> None:
    url = harness.queue("counted", DelaySeconds="10")
    harness.sqs.send_message(QueueUrl=url, MessageBody="delayed")  # the queue's 10 s
    harness.sqs.send_message(QueueUrl=url, MessageBody="now", DelaySeconds=0)
    harness.sqs.send_message(QueueUrl=url, MessageBody="taken", DelaySeconds=0)
    assert [m["Body"] for m in harness.receive(url)] == ["now"]
    attributes = harness.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    attributes = attributes["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attributes["VisibilityTimeout"] == "30"
    assert attributes["DelaySeconds"] == "10"
    assert attributes["QueueArn"] == "arn:aws:sqs:us-east-1:123456789012:counted"
    harness.advance(10)
    assert sorted(m["Body"] for m in harness.receive(url, MaxNumberOfMessages=10)) == [
        "delayed",
        "taken",
    ]


def test_purge_empties_the_queue_once_a_minute(harness: Harness) -> None:
    url = harness.queue("purged")
    harness.sqs.send_message(QueueUrl=url, MessageBody="a")
    harness.sqs.purge_queue(QueueUrl=url)
    assert harness.counts("purged")["visible"] == 0
    with pytest.raises(harness.sqs.exceptions.PurgeQueueInProgress):
        harness.sqs.purge_queue(QueueUrl=url)
    harness.advance(60)
    harness.sqs.purge_queue(QueueUrl=url)


def test_sqs_calls_are_counted_apart_from_sagemakers(harness: Harness) -> None:
    url = harness.queue("counting")
    harness.receive(url)
    error_of(harness.sqs.get_queue_url, QueueName="absent")
    assert harness.running.admin.counters() == {"operations": {}, "total": 0}
    counted = harness.running.admin.sqs()["counters"]["operations"]
    assert counted["ReceiveMessage"] == {"ok": 1}
    assert counted["GetQueueUrl"] == {"ok": 1, "QueueDoesNotExist": 1}  # the harness's own


def test_stopping_the_emulator_ends_long_polls_at_once() -> None:
    """A shutdown must not wait for a 20 s long poll (aiohttp waits for requests in flight)."""
    running = testing.start(settings.Settings(port=0, admin=True))
    try:
        client = sqs_client_for(running.url)
        url = client.create_queue(QueueName="closing")["QueueUrl"]
        poll = Background(lambda: client.receive_message(QueueUrl=url, WaitTimeSeconds=20))
        wait_for(lambda: running.admin.sqs()["queues"]["closing"]["waiting"], lambda n: n == 1)
    finally:
        started = time.monotonic()
        running.stop()
    assert time.monotonic() - started < 5
    assert "Messages" not in poll.result()
