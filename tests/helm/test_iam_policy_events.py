"""docs/iam-policy-events.json: exactly the SQS calls the events consumer makes, on one queue."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session

from tests.helm.chart import REPO_ROOT

POLICY: dict[str, Any] = json.loads((REPO_ROOT / "docs" / "iam-policy-events.json").read_text())
SOURCE = (REPO_ROOT / "operator" / "sagemaker_operator" / "sagemaker" / "queue.py").read_text()
# The IAM action each SQS operation needs (DeleteMessageBatch is authorised as DeleteMessage).
ACTION_OF = {
    "ReceiveMessage": "sqs:ReceiveMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibility": "sqs:ChangeMessageVisibility",
}


def _called() -> set[str]:
    """The SQS operations queue.py calls, by boto3's snake_case names."""
    model = botocore.session.get_session().get_service_model("sqs")
    snake = {re.sub(r"(?<!^)(?=[A-Z])", "_", op).lower(): op for op in model.operation_names}
    return {snake[name] for name in re.findall(r'_call\(\s*"([a-z_]+)"', SOURCE)}


def test_the_policy_grants_exactly_what_the_consumer_calls_on_one_queue() -> None:
    (statement,) = POLICY["Statement"]
    assert statement["Effect"] == "Allow"
    assert _called() == set(ACTION_OF)
    assert sorted(statement["Action"]) == sorted(ACTION_OF.values())
    assert statement["Resource"].startswith("arn:aws:sqs:")
    assert "*" not in statement["Resource"]  # one queue, never every queue
