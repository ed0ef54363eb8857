"""SageMaker's refusals, sorted by what the operator must do about them.

::

    SageMakerError              anything SageMaker (or the way to it) said no with
    ├── TransientError          retry with backoff (5xx, timeouts, network, credentials)
    │   └── ThrottlingError     the account's rate limit: botocore's throttling codes, HTTP 429
    └── PermanentError          retrying cannot help: ends the job's resource in Failed
        ├── JobNotFoundError    the training job does not exist (any more)
        └── NameInUseError      CreateTrainingJob's name is taken (ResourceInUse)

Which codes and statuses are throttling or transient is botocore's knowledge (its standard
retry mode's checkers), so a botocore upgrade that learns a new code teaches the operator too.
The messages are SageMaker's own words; the codes are kept so conditions can use them as
reasons (``ValidationException``, ``ResourceLimitExceeded``, ``AccessDeniedException``...).
"""

from __future__ import annotations

from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.exceptions import (
    ClientError,
    CredentialRetrievalError,
    NoCredentialsError,
    ParamValidationError,
)
from botocore.retries.standard import (
    RetryContext,
    RetryEventAdapter,
    ThrottlingErrorDetector,
    TransientRetryableChecker,
)

# Throttling: botocore's throttling codes, and HTTP 429 whatever the code. The detector's
# modeled-error check needs an operation model; without one it rules on codes and status only.
_THROTTLING = ThrottlingErrorDetector(RetryEventAdapter())
# Transient: botocore's transient codes and exception classes (connection, HTTP client,
# timeouts), with every 5xx status rather than only botocore's 500/502/503/504.
_TRANSIENT = TransientRetryableChecker(transient_status_codes=range(500, 600))
# Codes botocore's lists lack that still mean "later, not never": AWS's server faults (which
# normally come with a 5xx anyway), and expired credentials, which heal once IRSA refreshes them.
_TRANSIENT_CODES = frozenset(
    {
        "InternalFailure",
        "InternalServerError",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
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


def _retry_context(code: str, status: int) -> RetryContext:
    """What botocore's retry checkers would have seen of this response."""
    http_response = (
        AWSResponse(url="", status_code=status, headers=HTTPHeaders(), raw=None) if status else None
    )
    return RetryContext(
        attempt_number=1,
        parsed_response={"Error": {"Code": code}},
        http_response=http_response,
    )


def classify(error: Exception) -> SageMakerError:
    """Turn a botocore exception into the operator's error tree (never raises)."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = str(details.get("Code", "Unknown"))
        message = str(details.get("Message", str(error)))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        context = _retry_context(code, status)
        if _THROTTLING.is_throttling_error_from_context(context):
            return ThrottlingError(code, message)
        if code == "ResourceNotFound" or (
            code == "ValidationException" and message.startswith(_NOT_FOUND_MESSAGE)
        ):
            return JobNotFoundError(code, message)
        if code == "ResourceInUse":
            return NameInUseError(code, message)
        if code in _TRANSIENT_CODES or _TRANSIENT.is_retryable(context):
            return TransientError(code, message)
        return PermanentError(code, message)
    if isinstance(error, ParamValidationError):
        # botocore refused the request before sending it: as permanent as SageMaker's refusal.
        return PermanentError("ValidationException", str(error))
    if isinstance(error, NoCredentialsError | CredentialRetrievalError):
        return TransientError("NoCredentials", str(error))
    if _TRANSIENT.is_retryable(RetryContext(attempt_number=1, caught_exception=error)):
        return TransientError("NetworkError", str(error))
    # Anything else, botocore's or not, is presumed to pass.
    return TransientError(type(error).__name__, str(error))
