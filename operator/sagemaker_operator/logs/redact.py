"""Credential-looking strings out of log lines before they leave AWS for Events and status.

A training job's log is written by the user's code, and a failing script often prints its
environment or a connection string. The operator's failure tail (``status.failureLogTail``
and a Warning Event) is readable by anyone who may read the resource or the namespace's
Events, so what looks like a secret is replaced by ``[REDACTED]``:

* AWS access key ids (``AKIA...``, ``ASIA...``: 20 upper-case letters and digits);
* 40-character base64 runs (the shape of an AWS secret access key);
* ``password=...``, ``secret: ...``, ``token=...``, ``api_key=...`` and the like (the value);
* ``Bearer <token>`` and ``Authorization: <credentials>``;
* user:password in URLs (``postgres://user:pw@host``).

It is a guard, not a guarantee: a secret of another shape passes.
"""

from __future__ import annotations

import re
from typing import Final

MARK: Final = "[REDACTED]"

_PATTERNS: Final = (
    re.compile(r"\b(?:AKIA|ASIA|AIDA|AROA)[A-Z0-9]{16}\b"),
    re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{40}(?![A-Za-z0-9+/=])"),
)
_KEYED: Final = re.compile(
    r"(?i)\b((?:[a-z0-9_.-]*_)?(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key"
    r"|private[_-]?key|credentials?)[a-z0-9_.-]*[\"']?\s*[:=]\s*)([\"']?)([^\s\"',;&]+)"
)
_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_AUTHORIZATION: Final = re.compile(r"(?i)\b(authorization\s*[:=]\s*)(\S+(?:\s+\S+)?)")
_URL_PASSWORD: Final = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]+:)([^\s@/]+)(@)")


def redact(line: str) -> str:
    """``line`` with every credential-looking part replaced by :data:`MARK`."""
    line = _URL_PASSWORD.sub(lambda m: m.group(1) + MARK + m.group(3), line)
    line = _AUTHORIZATION.sub(lambda m: m.group(1) + MARK, line)
    line = _BEARER.sub(lambda m: f"{m.group(1)} {MARK}", line)
    line = _KEYED.sub(lambda m: m.group(1) + m.group(2) + MARK, line)
    for pattern in _PATTERNS:
        line = pattern.sub(MARK, line)
    return line
