"""docs/iam-policy.json: exactly the calls the operator makes, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import botocore.session

from tests.helm.chart import REPO_ROOT

POLICY: dict[str, Any] = json.loads((REPO_ROOT / "docs" / "iam-policy.json").read_text())

# The SageMaker operations the operator calls (docs/iam.md says why, one by one).
OPERATIONS = {
    "CreateTrainingJob",
    "DescribeTrainingJob",
    "ListTrainingJobs",
    "StopTrainingJob",
    "UpdateTrainingJob",
    "AddTags",
    "ListTags",
}
# The CloudWatch Logs operations, only for the opt-in failure tail (operator.failureLogTail).
OPTIONAL_LOGS = {"GetLogEvents"}


def _actions() -> list[str]:
    actions: list[str] = []
    for statement in POLICY["Statement"]:
        assert statement["Effect"] == "Allow"
        action = statement["Action"]
        actions.extend([action] if isinstance(action, str) else action)
    return actions


def test_policy_grants_exactly_the_operators_sagemaker_calls_and_passrole() -> None:
    actions = _actions()
    assert len(actions) == len(set(actions))
    assert set(actions) == {f"sagemaker:{op}" for op in OPERATIONS} | {"iam:PassRole"} | {
        f"logs:{op}" for op in OPTIONAL_LOGS
    }


def test_the_logs_action_is_optional_and_reads_only_training_job_streams() -> None:
    (statement,) = [s for s in POLICY["Statement"] if str(s["Action"]).startswith("logs:")]
    assert statement["Sid"].startswith("Optional")
    assert statement["Resource"] == (
        "arn:aws:logs:*:*:log-group:/aws/sagemaker/TrainingJobs:log-stream:*"
    )
    model = botocore.session.get_session().get_service_model("logs")
    assert OPTIONAL_LOGS - set(model.operation_names) == set()


def test_every_action_is_a_real_sagemaker_operation() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert OPERATIONS - set(model.operation_names) == set()


def test_passrole_only_to_sagemaker() -> None:
    (statement,) = [s for s in POLICY["Statement"] if s["Action"] == "iam:PassRole"]
    assert statement["Condition"] == {
        "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
    }


def test_only_list_has_no_resource_restriction() -> None:
    unrestricted = [s["Action"] for s in POLICY["Statement"] if s["Resource"] == "*"]
    assert unrestricted == ["sagemaker:ListTrainingJobs"]
