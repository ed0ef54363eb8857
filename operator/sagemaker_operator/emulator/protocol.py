"""SageMaker's wire protocol: AWS JSON 1.1, and the errors it answers with.

Every call is a ``POST /`` whose ``X-Amz-Target`` header names the operation
(``SageMaker.DescribeTrainingJob``) and whose body is the request as JSON. Answers are JSON
too; timestamps travel as epoch seconds (floats), which is why the emulator keeps every time
as a float and serialising a response is a single ``json.dumps``.

Errors are ``{"__type": code, "message": text}`` with an HTTP status. botocore takes the
code from ``__type`` (after any ``#``) and decides from code and status whether to retry, so
both must be the ones AWS sends. The ones that matter to a client, as the real service
answers them (see ``/work/shared/notes/sagemaker-api.md`` in the project's notes)::

    ApiError
    ├── ValidationException       400  bad parameters, and "Requested resource not found."
    ├── SerializationException    400  a body or member of the wrong JSON type
    ├── ResourceInUse             400  a duplicate name; deleting a running job
    ├── ResourceLimitExceeded     400  an instance quota would be exceeded
    ├── ThrottlingException       400  "Rate exceeded" (not 429)
    ├── UnknownOperationException 400  an X-Amz-Target this emulator does not serve
    ├── InternalFailure           500  injected server faults, and our own bugs
    └── ServiceUnavailable        503  injected server faults
"""

from __future__ import annotations

import json
from typing import Any, Final

CONTENT_TYPE: Final = "application/x-amz-json-1.1"
TARGET_PREFIX: Final = "SageMaker."

# NB: the real service answers an unknown training job with ValidationException, not with the
# ResourceNotFound shape the model declares; clients (ACK, the old SageMaker operator) test
# this code plus the message prefix, so the text is part of the contract.
NOT_FOUND_MESSAGE: Final = "Requested resource not found."


class ApiError(Exception):
    """An error answer: the ``__type`` code, its message and the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status

    def body(self) -> bytes:
        return json.dumps({"__type": self.code, "message": self.message}).encode()


def validation_error(message: str) -> ApiError:
    return ApiError("ValidationException", message)


def serialization_error(message: str) -> ApiError:
    return ApiError("SerializationException", message)


def not_found() -> ApiError:
    return ApiError("ValidationException", NOT_FOUND_MESSAGE)


def resource_in_use(message: str) -> ApiError:
    return ApiError("ResourceInUse", message)


def resource_limit_exceeded(message: str) -> ApiError:
    return ApiError("ResourceLimitExceeded", message)


def throttled() -> ApiError:
    return ApiError("ThrottlingException", "Rate exceeded")


def internal_failure(message: str = "An internal error occurred. Try again.") -> ApiError:
    return ApiError("InternalFailure", message, status=500)


def service_unavailable() -> ApiError:
    return ApiError("ServiceUnavailable", "Service is unavailable. Try again.", status=503)


def unknown_operation(target: str) -> ApiError:
    return ApiError("UnknownOperationException", f"Unknown operation {target!r}.")


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a request body; an empty body is an empty request, as AWS accepts it."""
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise serialization_error(f"The request body is not valid JSON: {exc}.") from None
    if not isinstance(value, dict):
        raise serialization_error("The request body must be a JSON object.")
    return value


def encode(value: dict[str, Any]) -> bytes:
    # NB: compact separators: the Describe answer is the hot path of every benchmark.
    return json.dumps(value, separators=(",", ":")).encode()


def region_of(authorization: str | None, default: str) -> str:
    """The region a SigV4 request was signed for, so ARNs name the caller's region.

    The header reads ``AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sagemaker/...``.
    Signatures are not checked: the emulator has no accounts and no secrets.
    """
    if authorization:
        _, sep, rest = authorization.partition("Credential=")
        if sep:
            parts = rest.split(",", 1)[0].split("/")
            if len(parts) >= 3 and parts[2]:
                return parts[2]
    return default
