"""Ownership proofs: made only under the operator's key, for one resource and one job."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sagemaker_operator.config import Settings
from sagemaker_operator.controller.proofs import MIN_KEY_BYTES, Proofs
from tests.reconciler.table import ARN, COPIED, FORGED, PROOF, PROOFS, UID


def test_a_proof_holds_for_its_resource_and_job_only() -> None:
    assert PROOF is not None
    assert PROOF.startswith("v1:")
    assert PROOFS.holds(UID, ARN, PROOF)
    assert PROOFS.seal(UID, ARN) == PROOF  # the same under the same key: a restart checks it
    assert not PROOFS.holds(UID, ARN + "-2", PROOF)  # another job
    assert not PROOFS.holds("9" * 8, ARN, PROOF)  # copied to another resource
    assert not PROOFS.holds(UID, ARN, COPIED)  # another resource's, copied here
    assert not PROOFS.holds(UID, ARN, FORGED)  # made under another key


@pytest.mark.parametrize("junk", [None, "", 7, {"v1": PROOF}, "v1:" + "0" * 64, f"{PROOF} "])
def test_anything_else_a_status_holds_proves_nothing(junk: object) -> None:
    assert not PROOFS.holds(UID, ARN, junk)


def test_no_key_no_proof() -> None:
    none = Proofs(None)
    assert not none.enabled
    assert none.seal(UID, ARN) is None
    assert not none.holds(UID, ARN, PROOF)


def test_a_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Proofs(b"x" * (MIN_KEY_BYTES - 1))


def test_the_key_file_is_read_without_its_newline(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_bytes(b"the operator's own key, 32 bytes+\n")
    assert Proofs.from_file(str(key)).seal(UID, ARN) == PROOF
    assert not Proofs.from_file(None).enabled


def test_a_missing_or_short_key_file_stops_the_settings(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    for path, reason in ((short, "at least 32 bytes"), (tmp_path / "absent", "No such file")):
        given: dict[str, Any] = {"ownership_key_file": str(path)}
        with pytest.raises(ValidationError, match=reason):
            Settings(**given)
