"""A status's proof that its job carries the resource's uid tag, kept across restarts.

Ownership is the uid tag (docs/security.md), and asking SageMaker for it costs one
``ListTags`` per job. A process remembers what it has proven, but a restarted one asked
again for every job it wrote: after a SIGKILL at N = 10,000 the first poller cycle spent
604 s on 1,708 ``ListTags`` (docs/performance.md). So once the operator has proven a job
is the resource's (it created the job, adopted it, or its tags said so), it writes
``status.ownershipProof``: an HMAC-SHA256, under a key only the operator can read, of the
resource's uid and the job's ARN. Whoever may write status can copy a proof but not make
one, and a copy names another uid or another ARN, so it proves nothing here. Without a key
there is no proof and every process asks SageMaker, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path

FIELD = "ownershipProof"  # the status member
MIN_KEY_BYTES = 32  # HMAC-SHA256's own block of strength; shorter keys are refused
VERSION = "v1"


class Proofs:
    """Seals and checks ownership proofs with one key (None: no proofs at all)."""

    def __init__(self, key: bytes | None) -> None:
        if key is not None and len(key) < MIN_KEY_BYTES:
            raise ValueError(f"the ownership key must be at least {MIN_KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def from_file(cls, path: str | None) -> Proofs:
        """The key in ``path`` (a mounted Secret), surrounding whitespace aside."""
        if not path:
            return cls(None)
        try:
            return cls(Path(path).read_bytes().strip())
        except (OSError, ValueError) as error:
            raise ValueError(f"ownership key {path}: {error}") from None

    @property
    def enabled(self) -> bool:
        return self._key is not None

    def seal(self, uid: str, arn: str) -> str | None:
        """The proof that the job ``arn`` carries ``uid``'s tag, or None without a key."""
        if self._key is None:
            return None
        # NB: a separator neither a uid nor an ARN can hold, so no two pairs share a message.
        digest = hmac.new(self._key, f"{uid}\n{arn}".encode(), hashlib.sha256).hexdigest()
        return f"{VERSION}:{digest}"

    def holds(self, uid: str, arn: str, proof: object) -> bool:
        """Whether ``proof`` (read from a status anyone with status rights may write) is this
        operator's for exactly this resource and this job."""
        expected = self.seal(uid, arn)
        if expected is None or not isinstance(proof, str):
            return False
        return hmac.compare_digest(expected, proof)


def key_file(path: Path) -> Path:
    """``path``, holding a fresh random key unless it holds one already: for the local stacks
    (bench, demo, tests), whose restarts must share a key as a chart installation's do."""
    if not path.exists():
        path.write_text(secrets.token_hex(MIN_KEY_BYTES))
        path.chmod(0o600)
    return path
