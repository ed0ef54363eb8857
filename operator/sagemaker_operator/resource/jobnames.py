"""The SageMaker job name of a resource: chosen by the user, or derived stably from name + uid.

SageMaker names are unique per account and region for ever and match
``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``. A derived name keeps as much of the resource name as
fits and ends in the first 8 hex digits of the uid, so a resource deleted and re-created
under the same name gets a new job, while the same resource always maps to the same job
(which is what makes crash recovery by look-up possible).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_LENGTH = 63
_UID_CHARS = 8
_NOT_ALLOWED = re.compile(r"[^a-zA-Z0-9-]+")
VALID = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def derive(name: str, uid: str) -> str:
    suffix = uid.replace("-", "")[:_UID_CHARS]
    stem = _NOT_ALLOWED.sub("-", name).strip("-")
    stem = stem[: MAX_LENGTH - len(suffix) - 1].rstrip("-")
    return f"{stem}-{suffix}" if stem else suffix


def job_name_of(spec: Mapping[str, Any], name: str, uid: str) -> str:
    explicit = spec.get("trainingJobName")
    return str(explicit) if explicit else derive(name, uid)
