"""SageMaker's refusals, sorted by what the operator must do about them.

::

    SageMakerError              anything SageMaker (or the way to it) said no with
    ├── TransientError          retry with backoff; shows as Synced=False meanwhile
    │   └── ThrottlingError     the account's rate limit: ThrottlingException & co.
    └── PermanentError          retrying cannot help: ends the job's resource in Failed
        ├── JobNotFoundError    the training job does not exist (any more)
        └── NameInUseError      CreateTrainingJob's name is taken (ResourceInUse)

The messages are SageMaker's own words; the codes are kept so conditions can use them as
reasons (``ValidationException``, ``ResourceLimitExceeded``, ``AccessDeniedException``...).
"""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

# Codes that mean "later, not never". Expired credentials heal once IRSA refreshes them.
_THROTTLING = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "SlowDown",
    }
)
_TRANSIENT = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "ExpiredToken",
        "ExpiredTokenException",
        "RequestExpired",
    }
)
# AWS answers an unknown training job with a ValidationException that says exactly this.
_NOT_FOUND_MESSAGE = "Requested resource not found"


class SageMakerError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class TransientError(SageMakerError):
    pass


class ThrottlingError(TransientError):
    pass


class PermanentError(SageMakerError):
    pass


class JobNotFoundError(PermanentError):
    pass


class NameInUseError(PermanentError):
    pass


def classify(error: Exception) -> SageMakerError:
    """Turn a botocore exception into the operator's error tree (never raises)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        message = str(details.get("Message", str(error)))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in _THROTTLING:
            return ThrottlingError(code, message)
        if code == "ResourceNotFound" or (
            code == "ValidationException" and message.startswith(_NOT_FOUND_MESSAGE)
        ):
            return JobNotFoundError(code, message)
        if code == "ResourceInUse":
            return NameInUseError(code, message)
        if code in _TRANSIENT or status >= 500:
            return TransientError(code, message)
        return PermanentError(code, message)
    if isinstance(error, ParamValidationError):
        # botocore refused the request before sending it: as permanent as SageMaker's refusal.
        return PermanentError("ValidationException", str(error))
    if isinstance(error, NoCredentialsError | CredentialRetrievalError):
        return TransientError("NoCredentials", str(error))
    if isinstance(error, ConnectionError | HTTPClientError | ReadTimeoutError):
        return TransientError("NetworkError", str(error))
    if isinstance(error, BotoCoreError):
        return TransientError(type(error).__name__, str(error))
    return TransientError(type(error).__name__, str(error))
