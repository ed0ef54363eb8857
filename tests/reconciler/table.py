"""The table-test harness: canned SageMaker answers in, the decision and its calls out.

Each row gives a resource, the answers SageMaker gives (per operation, in order) and what
the decision must come to. An answer is a response, or the exception botocore raises: the
fake turns it into the operator's error classes with the same ``errors.classify`` the real
client uses, so a row's ``ClientError`` goes down exactly the path a real one would.

The fake is a test double of the reconciler's own port (``ports.SageMaker``), not of boto3:
the real client behind that port is proven against the emulator over HTTP elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from botocore.exceptions import ClientError

from sagemaker_operator import names
from sagemaker_operator.controller import ports, proofs, reconcile, tenancy
from sagemaker_operator.resource import policy
from sagemaker_operator.sagemaker import errors

NAMESPACE, NAME, UID = "team-a", "train", "0f3c2b1a-9d8e-4c7b-a6f5-e4d3c2b1a098"
JOB = "train-0f3c2b1a"  # the derived name of NAME + UID
REGION = "us-east-1"
REGIONS = frozenset({REGION, "eu-west-1"})
ARN = f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{JOB}"
OURS = {names.TAG_NAMESPACE: NAMESPACE, names.TAG_NAME: NAME, names.TAG_UID: UID}
# The operator's key in every row; a status proves ownership only with a proof made under it.
PROOFS = proofs.Proofs(b"the operator's own key, 32 bytes+")
PROOF = PROOFS.seal(UID, ARN)  # this resource's proof for its job
COPIED = PROOFS.seal("9" * 8, ARN)  # another resource's proof, copied into this status
FORGED = proofs.Proofs(b"a key that is not the operator's!").seal(UID, ARN)
THEIRS = {names.TAG_NAMESPACE: "team-b", names.TAG_NAME: "secret-project", names.TAG_UID: "9" * 8}

SPEC: dict[str, Any] = {
    "roleArn": "arn:aws:iam::123456789012:role/team-a-training",
    "algorithmSpecification": {"trainingImage": "img:1", "trainingInputMode": "File"},
    "outputDataConfig": {"s3OutputPath": "s3://team-a/out/"},
    "resourceConfig": {"instanceType": "ml.m5.large", "instanceCount": 1, "volumeSizeInGB": 10},
    "stoppingCondition": {"maxRuntimeInSeconds": 3600},
}
RUNNING = {
    "trainingJobName": JOB,
    "trainingJobArn": ARN,
    "region": REGION,
    "phase": "InProgress",
    "trainingJobStatus": "InProgress",
    "secondaryStatus": "Training",
}

Answer = Mapping[str, Any] | Exception
REMEMBER = ("kube", "remember", f"{JOB}@{REGION}")  # name and region written before the create


def client_error(code: str, message: str, http: int = 400, operation: str = "Op") -> ClientError:
    """What botocore raises for an error response."""
    response = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": http},
    }
    return ClientError(cast(Any, response), operation)


NOT_FOUND = client_error("ValidationException", "Requested resource not found.")
THROTTLED = client_error("ThrottlingException", "Rate exceeded")
TOO_MANY = client_error("SlowDownPlease", "Too many requests", 429)
INTERNAL = client_error("InternalFailure", "We encountered an internal error.", 500)
UNAVAILABLE = client_error("ServiceUnavailable", "Service unavailable", 503)


def described(
    status: str = "InProgress", secondary: str = "Training", **more: Any
) -> dict[str, Any]:
    """A DescribeTrainingJob response of this resource's job."""
    return {
        "TrainingJobName": JOB,
        "TrainingJobArn": ARN,
        "TrainingJobStatus": status,
        "SecondaryStatus": secondary,
        **more,
    }


@dataclass
class FakeSageMaker:
    """One region's port: answers in order per operation, every call recorded."""

    region: str
    answers: dict[str, list[Answer]]
    calls: list[tuple[str, ...]]

    async def _answer(self, operation: str, key: str) -> Any:
        self.calls.append((self.region, operation, key))
        queue = self.answers.get(operation) or []
        if not queue:
            raise AssertionError(f"unexpected call {operation}({key}) in {self.region}")
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise errors.classify(answer) from answer
        return answer

    async def describe(self, job_name: str) -> Mapping[str, Any]:
        return cast(Mapping[str, Any], await self._answer("describe", job_name))

    async def create(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        self.requests.append(dict(request))
        return cast(Mapping[str, Any], await self._answer("create", request["TrainingJobName"]))

    async def update(self, request: Mapping[str, Any]) -> Mapping[str, Any]:
        self.requests.append(dict(request))
        return cast(Mapping[str, Any], await self._answer("update", request["TrainingJobName"]))

    async def stop(self, job_name: str) -> Mapping[str, Any]:
        return cast(Mapping[str, Any], await self._answer("stop", job_name))

    async def tags(self, arn: str) -> dict[str, str]:
        return dict(await self._answer("tags", arn))

    async def add_tags(self, arn: str, tags: Mapping[str, str]) -> Mapping[str, Any]:
        self.requests.append({"ResourceArn": arn, "Tags": dict(tags)})
        return cast(Mapping[str, Any], await self._answer("add_tags", arn))

    requests: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Row:
    """One case: the resource, SageMaker's answers, and the expected outcome and calls."""

    id: str
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    calls: Sequence[tuple[str, ...]] = ()  # (operation, key) or (region, operation, key)
    expect: Mapping[str, Any] | None = None  # view() members; None: the status stays untouched
    events: Sequence[tuple[str, str]] = ()  # (type, reason)
    raises: tuple[type[errors.SageMakerError], str] | None = None  # exact class, code
    release: bool = False
    spec: Mapping[str, Any] = field(default_factory=lambda: SPEC)
    status: Mapping[str, Any] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    governance: tenancy.Governance = field(default_factory=tenancy.Governance)
    default_region: str | None = REGION
    requests: Sequence[Mapping[str, Any]] | None = None  # expected create/update/add_tags bodies

    hidden: Sequence[str] = ()  # words no message may contain (another tenant's names)

    def param(self) -> Any:
        return pytest.param(self, id=self.id)


@dataclass
class Run:
    sagemaker: dict[str, FakeSageMaker] = field(default_factory=dict)
    calls: list[tuple[str, ...]] = field(default_factory=list)

    @property
    def requests(self) -> list[dict[str, Any]]:
        return [r for fake in self.sagemaker.values() for r in fake.requests]


def resource_of(row: Row) -> reconcile.Resource:
    return reconcile.Resource(
        namespace=NAMESPACE,
        name=NAME,
        uid=UID,
        generation=2,
        spec=row.spec,
        status=row.status,
        annotations=row.annotations,
    )


def ports_for(row: Row, run: Run) -> ports.Ports:
    answers = {operation: list(queue) for operation, queue in row.answers.items()}

    def sagemaker(region: str) -> ports.SageMaker:
        if region not in run.sagemaker:
            run.sagemaker[region] = FakeSageMaker(region, answers, run.calls)
        return run.sagemaker[region]

    async def governance(namespace: str) -> tenancy.Governance:
        assert namespace == NAMESPACE
        return row.governance

    async def remember(namespace: str, name: str, status: Mapping[str, Any]) -> None:
        assert (namespace, name) == (NAMESPACE, NAME)
        run.calls.append(("kube", "remember", f"{status['trainingJobName']}@{status['region']}"))

    return ports.Ports(
        sagemaker=sagemaker,
        governance=governance,
        remember=remember,
        default_region=row.default_region,
        regions=REGIONS,
        proofs=PROOFS,
    )


def governed(
    allow: Mapping[str, tuple[str, ...]] | None = None,
    *,
    regions: tuple[str, ...] | None = None,
    allow_adoption: bool = False,
    require_policy: bool = False,
) -> tenancy.Governance:
    """A namespace governed by one policy allowing ``allow`` (kind -> entries)."""
    spec = policy.PolicySpec.model_validate(
        {
            "namespaceSelector": {},
            "regions": regions,
            "allowAdoption": allow_adoption,
            "allow": dict(allow or {}),
        }
    )
    return tenancy.Governance((policy.Policy(name="team-a", spec=spec),), require_policy)


# What the policy rows allow: exactly what SPEC names.
TEAM_A = {
    "roleArns": ("arn:aws:iam::123456789012:role/team-a-*",),
    "s3": ("s3://team-a",),
    "images": ("img:*",),
}


def view(status: Mapping[str, Any]) -> dict[str, Any]:
    """The status as rows state it: members, plus each condition as (status, reason)."""
    flat = {key: value for key, value in status.items() if key != "conditions"}
    for condition in status.get("conditions", []):
        flat[condition["type"]] = (condition["status"], condition["reason"])
        flat[f"{condition['type']}.message"] = condition["message"]
        assert condition["observedGeneration"] == 2
    return flat


def check(row: Row, run: Run, outcome: reconcile.Outcome | None, raised: Exception | None) -> None:
    """Assert everything a row says; the exact calls always."""
    expected_calls = [call if len(call) == 3 else (REGION, *call) for call in row.calls]
    assert run.calls == expected_calls
    if row.requests is not None:
        assert run.requests == list(row.requests)
    if row.raises is not None:
        kind, code = row.raises
        assert type(raised) is kind, raised
        assert isinstance(raised, errors.SageMakerError)
        assert raised.code == code
        return
    if raised is not None:
        raise raised
    assert outcome is not None
    if row.expect is None:
        assert outcome.status == {}
    else:
        got = view(outcome.status)
        assert {key: got.get(key) for key in row.expect} == dict(row.expect)
    assert [(type_, reason) for type_, reason, _ in outcome.events] == list(row.events)
    assert outcome.release is row.release
    for word in row.hidden:
        assert all(word not in message for _, _, message in outcome.events), word
        assert word not in str(outcome.status), word


async def decide(row: Row, decision: Any, *args: Any, **kwargs: Any) -> None:
    """Run ``decision(ports, resource, *args)`` for ``row`` and check the row."""
    run = Run()
    outcome: reconcile.Outcome | None = None
    raised: Exception | None = None
    try:
        outcome = await decision(ports_for(row, run), resource_of(row), *args, **kwargs)
    except errors.SageMakerError as error:
        raised = error
    check(row, run, outcome, raised)
    for operation, queue in row.answers.items():
        used = sum(1 for call in run.calls if call[1] == operation)
        assert used == len(queue), f"{operation}: {len(queue) - used} canned answers unused"
