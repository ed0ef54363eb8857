"""classify(): every botocore failure lands on exactly one class, code and message."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker

from sagemaker_operator.sagemaker import errors

# botocore has no public accessor for its lists; reading them here makes a botocore upgrade
# that adds a code add a row, so the operator's classification is checked against it.
THROTTLED_CODES: list[str] = list(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)  # type: ignore[attr-defined]
TRANSIENT_CODES: list[str] = [
    code
    for code in TransientRetryableChecker._TRANSIENT_ERROR_CODES  # type: ignore[attr-defined]
    # A code on both lists (PriorRequestNotComplete) is throttling, covered above.
    if code not in THROTTLED_CODES
]
ENDPOINT = "https://api.sagemaker.us-east-1.amazonaws.com"


class _UnhandledBotoCoreError(BotoCoreError):
    fmt = "something botocore-ish went wrong"


def _client_error(code: str, message: str, status: int | None = 400) -> ClientError:
    response: dict[str, Any] = {"Error": {"Code": code, "Message": message}}
    if status is not None:
        response["ResponseMetadata"] = {"HTTPStatusCode": status}
    return _raw_client_error(response)


def _raw_client_error(response: dict[str, Any]) -> ClientError:
    # The stubs' TypedDict insists on keys a real (or partial) response may lack.
    return ClientError(response, "DescribeTrainingJob")  # type: ignore[arg-type]


def _row(
    name: str, error: Exception, kind: type[errors.SageMakerError], code: str, message: str
) -> Any:
    return pytest.param(error, kind, code, message, id=name)


ROWS = [
    *(
        _row(
            f"throttling-{code}",
            _client_error(code, "Rate exceeded"),
            errors.ThrottlingError,
            code,
            "Rate exceeded",
        )
        for code in THROTTLED_CODES
    ),
    _row(
        "429-unfamiliar-code",
        _client_error("SlowYourRollException", "Too many requests", 429),
        errors.ThrottlingError,
        "SlowYourRollException",
        "Too many requests",
    ),
    _row(
        "429-no-body",
        _raw_client_error({"ResponseMetadata": {"HTTPStatusCode": 429}}),
        errors.ThrottlingError,
        "Unknown",
        "An error occurred (Unknown) when calling the DescribeTrainingJob operation: Unknown",
    ),
    *(
        _row(
            f"{status}-unfamiliar-code",
            _client_error("Gremlins", "oops", status),
            errors.TransientError,
            "Gremlins",
            "oops",
        )
        for status in (500, 501, 502, 503, 504, 509)
    ),
    *(
        _row(
            f"transient-{code}",
            _client_error(code, "try again"),
            errors.TransientError,
            code,
            "try again",
        )
        for code in TRANSIENT_CODES
    ),
    *(
        _row(
            f"server-fault-without-status-{code}",
            _client_error(code, "oops", None),
            errors.TransientError,
            code,
            "oops",
        )
        for code in (
            "InternalFailure",
            "InternalServerError",
            "InternalError",
            "ServiceUnavailable",
            "ServiceUnavailableException",
        )
    ),
    *(
        _row(
            f"expired-{code}",
            _client_error(code, "token expired"),
            errors.TransientError,
            code,
            "token expired",
        )
        for code in ("ExpiredToken", "ExpiredTokenException", "RequestExpired")
    ),
    _row(
        "validation-not-found",
        _client_error("ValidationException", "Requested resource not found."),
        errors.JobNotFoundError,
        "ValidationException",
        "Requested resource not found.",
    ),
    _row(
        "resource-not-found",
        _client_error("ResourceNotFound", "Training job tj does not exist"),
        errors.JobNotFoundError,
        "ResourceNotFound",
        "Training job tj does not exist",
    ),
    _row(
        "resource-in-use",
        _client_error("ResourceInUse", "Training job names must be unique"),
        errors.NameInUseError,
        "ResourceInUse",
        "Training job names must be unique",
    ),
    _row(
        "validation-other",
        _client_error("ValidationException", "1 validation error detected: RoleArn"),
        errors.PermanentError,
        "ValidationException",
        "1 validation error detected: RoleArn",
    ),
    _row(
        "resource-limit-exceeded",
        _client_error("ResourceLimitExceeded", "account-level service limit"),
        errors.PermanentError,
        "ResourceLimitExceeded",
        "account-level service limit",
    ),
    _row(
        "access-denied",
        _client_error("AccessDeniedException", "not authorized", 403),
        errors.PermanentError,
        "AccessDeniedException",
        "not authorized",
    ),
    _row(
        "no-error-body",
        _raw_client_error({}),
        errors.PermanentError,
        "Unknown",
        "An error occurred (Unknown) when calling the DescribeTrainingJob operation: Unknown",
    ),
    _row(
        "param-validation",
        ParamValidationError(report="bad"),
        errors.PermanentError,
        "ValidationException",
        "Parameter validation failed:\nbad",
    ),
    _row(
        "no-credentials",
        NoCredentialsError(),
        errors.TransientError,
        "NoCredentials",
        "Unable to locate credentials",
    ),
    _row(
        "credential-retrieval",
        CredentialRetrievalError(provider="assume-role-with-web-identity", error_msg="denied"),
        errors.TransientError,
        "NoCredentials",
        "Error when retrieving credentials from assume-role-with-web-identity: denied",
    ),
    _row(
        "endpoint-connection",
        EndpointConnectionError(endpoint_url=ENDPOINT),
        errors.TransientError,
        "NetworkError",
        f'Could not connect to the endpoint URL: "{ENDPOINT}"',
    ),
    _row(
        "read-timeout",
        ReadTimeoutError(endpoint_url=ENDPOINT),
        errors.TransientError,
        "NetworkError",
        f'Read timeout on endpoint URL: "{ENDPOINT}"',
    ),
    _row(
        "connect-timeout",
        ConnectTimeoutError(endpoint_url=ENDPOINT),
        errors.TransientError,
        "NetworkError",
        f'Connect timeout on endpoint URL: "{ENDPOINT}"',
    ),
    _row(
        "other-botocore-error",
        _UnhandledBotoCoreError(),
        errors.TransientError,
        "_UnhandledBotoCoreError",
        "something botocore-ish went wrong",
    ),
    _row("not-botocore", ValueError("boom"), errors.TransientError, "ValueError", "boom"),
]


@pytest.mark.parametrize(("error", "kind", "code", "message"), ROWS)
def test_classify(
    error: Exception, kind: type[errors.SageMakerError], code: str, message: str
) -> None:
    result = errors.classify(error)
    assert type(result) is kind
    assert result.code == code
    assert result.message == message
    assert str(result) == f"{code}: {message}"


def test_botocore_lists_are_not_empty() -> None:
    # Guards the generated rows: an empty list would silently drop them.
    assert "ThrottlingException" in THROTTLED_CODES
    assert "RequestTimeout" in TRANSIENT_CODES
