"""The part of Amazon SQS an event consumer uses, beside SageMaker on the same port.

boto3's SQS client speaks the AWS JSON 1.0 protocol (botocore's ``sqs`` model:
``"protocol": "json"``, ``"jsonVersion": "1.0"``, ``"targetPrefix": "AmazonSQS"``): every call
is a ``POST /`` with ``X-Amz-Target: AmazonSQS.ReceiveMessage`` and content type
``application/x-amz-json-1.0``; the queue is named by the ``QueueUrl`` member of the body.
Requests are checked against that model by the same :class:`validation.Validator` that checks
SageMaker's; what the model does not say (``MaxNumberOfMessages`` 1-10, ``WaitTimeSeconds``
0-20, visibility 0-43,200 s: the API reference's ranges) is checked here.

Operations: ``CreateQueue``, ``GetQueueUrl``, ``SendMessage``, ``ReceiveMessage`` (long
polling), ``DeleteMessage``, ``DeleteMessageBatch``, ``ChangeMessageVisibility``,
``GetQueueAttributes``, ``PurgeQueue``. Standard queues only; no FIFO, dead-letter queues,
message attributes or retention limit.

A received message is *in flight*: invisible to other receives until its visibility timeout
ends (the request's ``VisibilityTimeout``, else the queue's, default 30 s), then delivered
again with a new receipt handle and ``ApproximateReceiveCount`` one higher, until deleted.
Deleting with a receipt handle from an earlier receive succeeds and deletes nothing, as the
``DeleteMessage`` documentation in the model says; a handle the emulator never issued is
``ReceiptHandleIsInvalid``. Visibility, delays and timestamps follow the emulator's clock
(a test's hand clock included); ``WaitTimeSeconds`` is how long the HTTP request stays
open, so it is real time.

A long poll waits on an :class:`asyncio.Event` that every change to the queue sets (a
message sent, made visible again, a clock moved by hand), bounded by the next moment a
hidden message turns visible; nothing sleeps in a loop, and the event loop keeps serving
every other request meanwhile.

Errors have SQS's JSON shape, as botocore reads it: the model's shape name in ``__type``
and the older Query-protocol code in the ``x-amzn-query-error`` header (SQS's model says
``awsQueryCompatible``). botocore then reports the old code as ``Error.Code``
(``AWS.SimpleQueueService.NonExistentQueue``) and raises the modelled exception
(``client.exceptions.QueueDoesNotExist``), as it does against AWS.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import hashlib
import heapq
import itertools
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from botocore.model import OperationModel, ServiceModel

from sagemaker_operator.emulator import protocol
from sagemaker_operator.emulator.validation import Validator

CONTENT_TYPE: Final = "application/x-amz-json-1.0"
TARGET_PREFIX: Final = "AmazonSQS."

DEFAULT_VISIBILITY_TIMEOUT: Final = 30
MAX_VISIBILITY_TIMEOUT: Final = 43200  # 12 hours
MAX_WAIT_SECONDS: Final = 20
MAX_MESSAGES: Final = 10
MAX_DELAY_SECONDS: Final = 900
PURGE_INTERVAL: Final = 60.0  # a second purge within a minute is PurgeQueueInProgress
MAX_BATCH: Final = 10

_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_BATCH_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_WAIT_RANGE: Final = "Must be >= 0 and <= 20, if provided."

# Queue attributes a queue keeps, with their defaults and allowed ranges (API reference,
# CreateQueue). Others the model names are accepted and echoed, but change nothing.
_NUMERIC_ATTRIBUTES: Final[dict[str, tuple[int, int, int]]] = {
    "VisibilityTimeout": (DEFAULT_VISIBILITY_TIMEOUT, 0, MAX_VISIBILITY_TIMEOUT),
    "DelaySeconds": (0, 0, MAX_DELAY_SECONDS),
    "ReceiveMessageWaitTimeSeconds": (0, 0, MAX_WAIT_SECONDS),
    "MessageRetentionPeriod": (345600, 60, 1209600),
    "MaximumMessageSize": (262144, 1024, 262144),
}


class SqsError(protocol.ApiError):
    """An SQS error: the model's shape in ``__type``, the Query code in a header."""

    def __init__(
        self,
        shape: str,
        message: str,
        query_code: str | None = None,
        *,
        status: int = 400,
        wire_type: str | None = None,
        fault: str = "Sender",
    ) -> None:
        super().__init__(shape, message, status)
        self.query_code = query_code or shape
        self.wire_type = wire_type or f"com.amazonaws.sqs#{shape}"
        self.fault = fault

    def body(self) -> bytes:
        return json.dumps({"__type": self.wire_type, "message": self.message}).encode()

    @property
    def headers(self) -> dict[str, str]:
        return {"x-amzn-query-error": f"{self.query_code};{self.fault}"}


def queue_does_not_exist() -> SqsError:
    return SqsError(
        "QueueDoesNotExist",
        "The specified queue does not exist.",
        "AWS.SimpleQueueService.NonExistentQueue",
    )


def invalid_parameter(message: str) -> SqsError:
    # NB: for a bad parameter AWS answers a generic Coral shape, not one of the model's, with
    # the Query code InvalidParameterValue in the header (what botocore shows as Error.Code).
    return SqsError(
        "InvalidParameterValue",
        message,
        wire_type="com.amazon.coral.service#InvalidParameterValueException",
    )


def receipt_handle_invalid(handle: str) -> SqsError:
    return SqsError(
        "ReceiptHandleIsInvalid",
        f'The input receipt handle "{handle}" is not a valid receipt handle.',
    )


def unknown_operation(target: str) -> SqsError:
    return SqsError(
        "UnsupportedOperation",
        f"The emulator does not serve {target!r}.",
        "AWS.SimpleQueueService.UnsupportedOperation",
    )


def internal_error() -> SqsError:
    return SqsError("InternalError", "An internal error occurred.", status=500, fault="Receiver")


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()  # SQS's checksum of the body


@dataclasses.dataclass
class Message:
    id: str
    body: str
    sent: float
    visible_at: float  # hidden until then: delayed, or in flight
    receive_count: int = 0
    first_receive: float | None = None
    serial: int = 0  # which receive issued the current receipt handle

    @property
    def md5(self) -> str:
        return md5_hex(self.body)


@dataclasses.dataclass
class Queue:
    name: str
    created: float
    attributes: dict[str, str]
    tags: dict[str, str] = dataclasses.field(default_factory=dict)
    messages: dict[str, Message] = dataclasses.field(default_factory=dict)
    # Ids of visible messages, oldest first (a dict keeps insertion order).
    ready: dict[str, None] = dataclasses.field(default_factory=dict)
    # (visible_at, tie, id) of hidden messages; stale entries are skipped when popped.
    hidden: list[tuple[float, int, str]] = dataclasses.field(default_factory=list)
    ties: itertools.count[int] = dataclasses.field(default_factory=itertools.count)
    wakeup: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    last_purge: float | None = None
    waiting: int = 0  # receives now long-polling this queue

    def number(self, attribute: str) -> int:
        return int(self.attributes[attribute])

    def changed(self) -> None:
        """Wake every receive waiting on this queue; each then looks again."""
        self.wakeup.set()
        self.wakeup = asyncio.Event()

    def add(self, body: str, now: float, delay: float = 0.0) -> Message:
        message = Message(id=str(uuid.uuid4()), body=body, sent=now, visible_at=now + delay)
        self.messages[message.id] = message
        self._hide_until(message, message.visible_at)
        self.changed()
        return message

    def _hide_until(self, message: Message, when: float) -> None:
        message.visible_at = when
        self.ready.pop(message.id, None)
        heapq.heappush(self.hidden, (when, next(self.ties), message.id))

    def release(self, now: float) -> None:
        """Make visible every hidden message whose time has come."""
        while self.hidden and self.hidden[0][0] <= now:
            when, _, message_id = heapq.heappop(self.hidden)
            message = self.messages.get(message_id)
            if message is not None and message.visible_at == when:
                self.ready[message_id] = None

    def next_visible(self) -> float | None:
        """When the next hidden message turns visible (possibly a stale entry: earlier)."""
        return self.hidden[0][0] if self.hidden else None

    def take(self, now: float, limit: int, visibility: float) -> list[Message]:
        self.release(now)
        taken = list(itertools.islice(self.ready, limit))
        out = []
        for message_id in taken:
            message = self.messages[message_id]
            message.receive_count += 1
            if message.first_receive is None:
                message.first_receive = now
            message.serial += 1
            self._hide_until(message, now + visibility)
            out.append(message)
        return out

    def delete(self, message_id: str) -> None:
        self.messages.pop(message_id, None)
        self.ready.pop(message_id, None)

    def change_visibility(self, message: Message, now: float, timeout: float) -> None:
        self._hide_until(message, now + timeout)
        if timeout == 0:
            self.release(now)
            self.changed()

    def purge(self) -> None:
        self.messages.clear()
        self.ready.clear()
        self.hidden.clear()

    def counts(self, now: float) -> tuple[int, int, int]:
        """Visible, in flight, delayed (never received and not yet visible)."""
        self.release(now)
        visible = len(self.ready)
        in_flight = sum(
            1 for m in self.messages.values() if m.id not in self.ready and m.receive_count
        )
        return visible, in_flight, len(self.messages) - visible - in_flight


@dataclasses.dataclass(frozen=True)
class Receipt:
    queue: str
    message: str
    serial: int

    def encode(self) -> str:
        raw = json.dumps([self.queue, self.message, self.serial], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode()

    @classmethod
    def decode(cls, handle: str) -> Receipt:
        try:
            queue, message, serial = json.loads(base64.urlsafe_b64decode(handle.encode()))
        except (ValueError, TypeError, binascii.Error):
            raise receipt_handle_invalid(handle) from None
        if not (isinstance(queue, str) and isinstance(message, str) and isinstance(serial, int)):
            raise receipt_handle_invalid(handle)
        return cls(queue, message, serial)


Handler = Callable[[dict[str, Any], str], Awaitable[dict[str, Any]]]


class Service:
    """The queues of one emulator and the SQS operations on them.

    ``clock`` is read at every call, so a test that swaps the emulator's clock moves SQS's
    too. ``origin`` of each call (``http://host:port``) makes the queue URLs it answers.
    """

    def __init__(
        self, model: ServiceModel, *, account: str, region: str, clock: Callable[[], float]
    ) -> None:
        self.model = model
        self.account = account
        self.region = region
        self.clock = clock
        self.validator = Validator(model)
        self.queues: dict[str, Queue] = {}
        self.closing = False  # the server is shutting down: long polls answer at once
        self.handlers: dict[str, Handler] = {
            "CreateQueue": self._create_queue,
            "GetQueueUrl": self._get_queue_url,
            "SendMessage": self._send_message,
            "ReceiveMessage": self._receive_message,
            "DeleteMessage": self._delete_message,
            "DeleteMessageBatch": self._delete_message_batch,
            "ChangeMessageVisibility": self._change_message_visibility,
            "GetQueueAttributes": self._get_queue_attributes,
            "PurgeQueue": self._purge_queue,
        }
        self._operations: dict[str, OperationModel] = {
            name: model.operation_model(name) for name in self.handlers
        }

    # -- entry point ----------------------------------------------------------------------

    def operation_of(self, target: str | None) -> str | None:
        if target is None or not target.startswith(TARGET_PREFIX):
            return None
        name = target.removeprefix(TARGET_PREFIX)
        return name if name in self.handlers else None

    async def call(self, operation: str, body: bytes, origin: str) -> dict[str, Any]:
        """Validate and run one call; raises :class:`SqsError` (or another ApiError)."""
        params = protocol.decode_body(body)
        shape = self._operations[operation].input_shape
        assert shape is not None  # every operation served here has one
        types, constraints = self.validator.problems(shape, params)
        problems = types + constraints
        if problems:
            n = len(problems)
            raise invalid_parameter(
                f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems)
            )
        return await self.handlers[operation](params, origin)

    # -- queues ---------------------------------------------------------------------------

    def create(self, name: str, attributes: dict[str, str] | None = None) -> Queue:
        """Create a queue (or return the same one again); the emulator's own entry point."""
        if not _QUEUE_NAME.fullmatch(name):
            raise invalid_parameter(
                "Can only include alphanumeric characters, hyphens, or underscores. "
                "1 to 80 in length"
            )
        wanted = self._attributes(attributes or {})
        queue = self.queues.get(name)
        if queue is not None:
            given = {k: v for k, v in wanted.items() if k in (attributes or {})}
            if any(queue.attributes.get(k) != v for k, v in given.items()):
                raise SqsError(
                    "QueueNameExists",
                    f"A queue already exists with the same name and a different value for "
                    f"attribute(s) {', '.join(sorted(given))}",
                    "QueueAlreadyExists",
                )
            return queue
        queue = self.queues[name] = Queue(name=name, created=self.clock(), attributes=wanted)
        return queue

    def _attributes(self, given: dict[str, str]) -> dict[str, str]:
        if given.get("FifoQueue", "false").lower() == "true":
            raise invalid_parameter("FIFO queues are not emulated.")
        out = {name: str(default) for name, (default, _, _) in _NUMERIC_ATTRIBUTES.items()}
        for name, value in given.items():
            if name in _NUMERIC_ATTRIBUTES:
                _, low, high = _NUMERIC_ATTRIBUTES[name]
                _bounded(f"Attributes.{name}", value, low, high, "Invalid value for the parameter")
            out[name] = str(value)
        return out

    def url(self, origin: str, queue: Queue) -> str:
        return f"{origin}/{self.account}/{queue.name}"

    def arn(self, queue: Queue) -> str:
        return f"arn:aws:sqs:{self.region}:{self.account}:{queue.name}"

    def queue_at(self, url: str) -> Queue:
        """The queue a ``QueueUrl`` names: ``<anything>/<account>/<name>``."""
        parts = url.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == self.account and parts[-1] in self.queues:
            return self.queues[parts[-1]]
        raise queue_does_not_exist()

    def send(self, queue: Queue, body: str, delay: float = 0.0) -> Message:
        """Put one message on a queue; delay in seconds of the emulator's clock."""
        return queue.add(body, self.clock(), delay)

    def wake(self) -> None:
        """Every waiting receive looks again (after a hand-moved clock, say)."""
        for queue in self.queues.values():
            queue.changed()

    def close(self) -> None:
        """End every long poll now, so the server's shutdown does not wait for them."""
        self.closing = True
        self.wake()

    def reset(self) -> None:
        """Empty every queue (they stay, with their attributes)."""
        for queue in self.queues.values():
            queue.purge()
            queue.last_purge = None
            queue.changed()

    # -- operations -----------------------------------------------------------------------

    async def _create_queue(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.create(params["QueueName"], params.get("Attributes"))
        queue.tags.update(params.get("tags") or {})
        return {"QueueUrl": self.url(origin, queue)}

    async def _get_queue_url(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        owner = params.get("QueueOwnerAWSAccountId")
        queue = self.queues.get(params["QueueName"])
        if queue is None or owner not in (None, self.account):
            raise queue_does_not_exist()
        return {"QueueUrl": self.url(origin, queue)}

    async def _send_message(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        delay = params.get("DelaySeconds")
        if delay is None:
            delay = queue.number("DelaySeconds")
        _bounded("DelaySeconds", delay, 0, MAX_DELAY_SECONDS)
        body: str = params["MessageBody"]
        if not body:
            raise SqsError(
                "MissingParameter",
                "The request must contain the parameter MessageBody.",
                "MissingParameter",
            )
        if len(body.encode()) > queue.number("MaximumMessageSize"):
            raise invalid_parameter(
                "One or more parameters are invalid. Reason: Message must be shorter than "
                f"{queue.number('MaximumMessageSize')} bytes."
            )
        message = self.send(queue, body, float(delay))
        return {"MessageId": message.id, "MD5OfMessageBody": message.md5}

    async def _receive_message(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        limit = params.get("MaxNumberOfMessages")
        limit = 1 if limit is None else limit
        _bounded("MaxNumberOfMessages", limit, 1, MAX_MESSAGES)
        wait = params.get("WaitTimeSeconds")
        wait = queue.number("ReceiveMessageWaitTimeSeconds") if wait is None else wait
        _bounded("WaitTimeSeconds", wait, 0, MAX_WAIT_SECONDS, _WAIT_RANGE)
        visibility = params.get("VisibilityTimeout")
        visibility = queue.number("VisibilityTimeout") if visibility is None else visibility
        _bounded("VisibilityTimeout", visibility, 0, MAX_VISIBILITY_TIMEOUT)
        wanted = set(params.get("MessageSystemAttributeNames") or []) | set(
            params.get("AttributeNames") or []
        )

        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            now = self.clock()
            taken = queue.take(now, limit, visibility)
            remaining = deadline - loop.time()
            if taken or remaining <= 0 or self.closing:
                break
            timeout = remaining
            upcoming = queue.next_visible()
            if upcoming is not None:
                # NB: a hand clock does not move by itself; whoever moves it calls wake().
                timeout = min(timeout, max(0.0, upcoming - now))
            queue.waiting += 1
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.wakeup.wait(), timeout)
            finally:
                queue.waiting -= 1
        if not taken:
            return {}
        return {"Messages": [self._received(queue, m, wanted) for m in taken]}

    def _received(self, queue: Queue, message: Message, wanted: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {
            "MessageId": message.id,
            "ReceiptHandle": Receipt(queue.name, message.id, message.serial).encode(),
            "MD5OfBody": message.md5,
            "Body": message.body,
        }
        if wanted:
            every = "All" in wanted
            known = {
                "SenderId": self.account,
                "SentTimestamp": str(_millis(message.sent)),
                "ApproximateReceiveCount": str(message.receive_count),
                "ApproximateFirstReceiveTimestamp": str(_millis(message.first_receive or 0.0)),
            }
            attributes = {k: v for k, v in known.items() if every or k in wanted}
            if attributes:
                out["Attributes"] = attributes
        return out

    def _message_for(self, queue: Queue, handle: str) -> tuple[Message | None, Receipt]:
        """The message a receipt handle names, if it still exists; refuses foreign handles."""
        receipt = Receipt.decode(handle)
        if receipt.queue != queue.name:
            raise receipt_handle_invalid(handle)
        return queue.messages.get(receipt.message), receipt

    def _delete(self, queue: Queue, handle: str) -> None:
        message, receipt = self._message_for(queue, handle)
        # NB: a handle from an earlier receive succeeds and deletes nothing (the model's
        # DeleteMessage documentation); a message already deleted is not an error either.
        if message is not None and message.serial == receipt.serial:
            queue.delete(message.id)

    async def _delete_message(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        self._delete(queue, params["ReceiptHandle"])
        return {}

    async def _delete_message_batch(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        entries: list[dict[str, str]] = params["Entries"]
        if not entries:
            raise SqsError(
                "EmptyBatchRequest",
                "There should be at least one DeleteMessageBatchRequestEntry in the request.",
                "AWS.SimpleQueueService.EmptyBatchRequest",
            )
        if len(entries) > MAX_BATCH:
            raise SqsError(
                "TooManyEntriesInBatchRequest",
                f"Maximum number of entries per request are {MAX_BATCH}. "
                f"You have sent {len(entries)}.",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
            )
        ids = [entry["Id"] for entry in entries]
        for entry_id in ids:
            if not _BATCH_ID.fullmatch(entry_id):
                raise SqsError(
                    "InvalidBatchEntryId",
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.",
                    "AWS.SimpleQueueService.InvalidBatchEntryId",
                )
        if len(set(ids)) != len(ids):
            raise SqsError(
                "BatchEntryIdsNotDistinct",
                "Two or more batch entries in the request have the same Id.",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
            )
        successful, failed = [], []
        for entry in entries:
            try:
                self._delete(queue, entry["ReceiptHandle"])
            except SqsError as error:
                failed.append(
                    {
                        "Id": entry["Id"],
                        "SenderFault": error.fault == "Sender",
                        "Code": error.query_code,
                        "Message": error.message,
                    }
                )
            else:
                successful.append({"Id": entry["Id"]})
        return {"Successful": successful, "Failed": failed}

    async def _change_message_visibility(
        self, params: dict[str, Any], origin: str
    ) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        timeout = params["VisibilityTimeout"]
        _bounded("VisibilityTimeout", timeout, 0, MAX_VISIBILITY_TIMEOUT)
        handle = params["ReceiptHandle"]
        message, receipt = self._message_for(queue, handle)
        now = self.clock()
        queue.release(now)
        in_flight = (
            message is not None
            and message.serial == receipt.serial
            and message.id not in queue.ready
            and message.visible_at > now
        )
        if message is None or not in_flight:
            raise invalid_parameter(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message does "
                "not exist or is not available for visibility timeout change."
            )
        queue.change_visibility(message, now, float(timeout))
        return {}

    async def _get_queue_attributes(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        names = set(params.get("AttributeNames") or [])
        visible, in_flight, delayed = queue.counts(self.clock())
        known = {
            **queue.attributes,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(in_flight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(queue.created)),
            "LastModifiedTimestamp": str(int(queue.created)),
            "QueueArn": self.arn(queue),
        }
        every = "All" in names
        attributes = {k: v for k, v in known.items() if every or k in names}
        return {"Attributes": attributes} if attributes else {}

    async def _purge_queue(self, params: dict[str, Any], origin: str) -> dict[str, Any]:
        queue = self.queue_at(params["QueueUrl"])
        now = self.clock()
        if queue.last_purge is not None and now < queue.last_purge + PURGE_INTERVAL:
            raise SqsError(
                "PurgeQueueInProgress",
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds.",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
            )
        queue.purge()
        queue.last_purge = now
        return {}


def _bounded(name: str, value: Any, low: int, high: int, reason: str | None = None) -> None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = low - 1
    if not low <= number <= high:
        raise invalid_parameter(
            f"Value {value} for parameter {name} is invalid. Reason: "
            f"{reason or f'Must be between {low} and {high}, if provided.'}"
        )


def _millis(seconds: float) -> int:
    return round(seconds * 1000)
