"""create: exactly one SageMaker job per resource, whatever SageMaker answers."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
)

from sagemaker_operator.controller import reconcile, tenancy
from sagemaker_operator.sagemaker import errors
from tests.reconciler.table import (
    ARN,
    INTERNAL,
    JOB,
    NOT_FOUND,
    OURS,
    PROOF,
    REGION,
    REMEMBER,
    SPEC,
    TEAM_A,
    THEIRS,
    THROTTLED,
    TOO_MANY,
    UNAVAILABLE,
    Row,
    Run,
    check,
    client_error,
    decide,
    described,
    governed,
    ports_for,
    resource_of,
)

CREATED = {"TrainingJobArn": ARN}
# A job nobody owns, created with what SPEC names (so TEAM_A's policy admits it).
ADOPTABLE = described(
    RoleArn=SPEC["roleArn"],
    AlgorithmSpecification={"TrainingImage": "img:1", "TrainingInputMode": "File"},
    OutputDataConfig={"S3OutputPath": "s3://team-a/out/"},
)
# Name and Region recorded before a CreateTrainingJob whose outcome is unknown: looked up.
RECORDED = {"trainingJobName": JOB, "region": REGION, "phase": "Pending"}
PENDING_JOB = {"phase": "InProgress", "Succeeded": ("Unknown", "InProgress")}


def refused(reason: str, message: str | None = None) -> dict[str, object]:
    expect: dict[str, object] = {
        "phase": "Failed",
        "Succeeded": ("False", reason),
        "Synced": ("False", reason),
        "trainingJobName": JOB,
    }
    if message is not None:
        expect["Succeeded.message"] = message
    return expect


ROWS = [
    Row(
        "already created before a restart: nothing to do",
        status={"trainingJobArn": ARN, "trainingJobName": JOB},
    ),
    Row(
        "not found: created, with provenance tags",
        answers={"create": [CREATED]},
        calls=[REMEMBER, ("create", JOB)],
        expect={
            **PENDING_JOB,
            "trainingJobArn": ARN,
            "trainingJobName": JOB,
            "region": REGION,
            "Synced": ("True", "Synced"),
            "secondaryStatus": "Starting",
            "ownershipProof": PROOF,  # so no restart need ask SageMaker whose the job is
        },
        events=[("Normal", "Created")],
    ),
    Row(
        "a name taken though this resource never sent a create: judged, not looked up first",
        answers={
            "create": [client_error("ResourceInUse", "Training job already exists")],
            "describe": [described()],
            "tags": [OURS],
        },
        calls=[REMEMBER, ("create", JOB), ("describe", JOB), ("tags", ARN)],
        expect={"phase": "InProgress", "trainingJobArn": ARN},
        events=[("Normal", "Adopted")],
    ),
    Row(
        "spec.region chooses the region's client",
        spec={**SPEC, "region": "eu-west-1"},
        answers={"create": [CREATED]},
        calls=[
            ("kube", "remember", f"{JOB}@eu-west-1"),
            ("eu-west-1", "create", JOB),
        ],
        expect={"region": "eu-west-1", "phase": "InProgress"},
        events=[("Normal", "Created")],
    ),
    Row(
        "spec.trainingJobName is the job's name",
        spec={**SPEC, "trainingJobName": "chosen"},
        answers={"create": [CREATED]},
        calls=[
            ("kube", "remember", f"chosen@{REGION}"),
            ("create", "chosen"),
        ],
        expect={"trainingJobName": "chosen"},
        events=[("Normal", "Created")],
    ),
    Row(
        "the name a refusal recorded is kept (and looked up: a create may have gone)",
        status={"trainingJobName": "recorded", "region": REGION, "phase": "Pending"},
        answers={"describe": [NOT_FOUND], "create": [CREATED]},
        calls=[("describe", "recorded"), ("create", "recorded")],
        expect={"trainingJobName": "recorded"},
        events=[("Normal", "Created")],
    ),
    Row(
        "a lost answer, then the default Region changed: the retry looks where it went",
        status={"trainingJobName": JOB, "region": "eu-west-1", "phase": "Pending"},
        answers={"describe": [described()], "tags": [OURS]},
        calls=[("eu-west-1", "describe", JOB), ("eu-west-1", "tags", ARN)],
        expect={"region": "eu-west-1", "trainingJobArn": ARN},
        events=[("Normal", "Adopted")],
    ),
    Row(
        "no spec.region and no default region: refused without a call",
        default_region=None,
        expect=refused("NoRegion"),
        events=[("Warning", "NoRegion")],
    ),
    Row(
        "a Region SageMaker does not have: refused before any client exists",
        spec={**SPEC, "region": "xx-bogus-1"},
        expect=refused("UnknownRegion"),
        events=[("Warning", "UnknownRegion")],
    ),
    Row(
        "governed, everything it names allowed: created",
        governance=governed(TEAM_A),
        answers={"create": [CREATED]},
        calls=[REMEMBER, ("create", JOB)],
        expect={"phase": "InProgress"},
        events=[("Normal", "Created")],
    ),
    Row(
        "a role the policy does not allow: refused without a call",
        governance=governed({**TEAM_A, "roleArns": ("arn:aws:iam::123456789012:role/b-*",)}),
        expect=refused("NotAllowedByPolicy"),
        events=[("Warning", "NotAllowedByPolicy")],
    ),
    Row(
        "an S3 location the policy does not allow: refused without a call",
        governance=governed({**TEAM_A, "s3": ("s3://team-b",)}),
        expect=refused("NotAllowedByPolicy"),
        events=[("Warning", "NotAllowedByPolicy")],
    ),
    Row(
        "a kind of reference the policy does not list (images): refused",
        governance=governed({k: v for k, v in TEAM_A.items() if k != "images"}),
        expect=refused("NotAllowedByPolicy"),
        events=[("Warning", "NotAllowedByPolicy")],
    ),
    Row(
        "a Region the policy does not allow: refused",
        governance=governed(TEAM_A, regions=("eu-west-1",)),
        expect=refused("RegionNotAllowed"),
        events=[("Warning", "RegionNotAllowed")],
    ),
    Row(
        "no policy selects the namespace and one is required: refused",
        governance=tenancy.Governance((), require_policy=True),
        expect=refused("NoPolicy"),
        events=[("Warning", "NoPolicy")],
    ),
    Row(
        "a spec that does not fit the model: refused before CreateTrainingJob",
        spec={**SPEC, "notAMember": 1},
        expect=refused("InvalidSpec"),
        events=[("Warning", "InvalidSpec")],
    ),
    Row(
        "found with this resource's uid (a crash after create): adopted, no second create",
        status=RECORDED,
        answers={"describe": [described("InProgress", "Downloading")], "tags": [OURS]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect={
            "phase": "InProgress",
            "secondaryStatus": "Downloading",
            "trainingJobArn": ARN,
            "ownershipProof": PROOF,
        },
        events=[("Normal", "Adopted")],
    ),
    Row(
        "found ours and already completed while the operator was down",
        status=RECORDED,
        answers={"describe": [described("Completed", "Completed")], "tags": [OURS]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect={"phase": "Completed", "Succeeded": ("True", "Completed")},
        events=[("Normal", "Adopted")],
    ),
    Row(
        "found another resource's job: NameConflict that does not say whose",
        status=RECORDED,
        answers={"describe": [described()], "tags": [THEIRS]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect={**refused("NameConflict"), "ownershipProof": None},
        events=[("Warning", "NameConflict")],
        hidden=("team-b", "secret-project"),
    ),
    Row(
        "found a job without provenance: NameConflict",
        status=RECORDED,
        answers={"describe": [described()], "tags": [{}]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("NameConflict"),
        events=[("Warning", "NameConflict")],
    ),
    Row(
        "adopt a job nobody owns, the policy allows adoption and the job: tagged and tracked",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        governance=governed(TEAM_A, allow_adoption=True),
        answers={"describe": [ADOPTABLE], "tags": [{}], "add_tags": [{}]},
        calls=[("describe", JOB), ("tags", ARN), ("add_tags", ARN)],
        expect={"phase": "InProgress", "trainingJobArn": ARN},
        events=[("Normal", "Adopted")],
        requests=[{"ResourceArn": ARN, "Tags": OURS}],
    ),
    Row(
        "adopt, but no policy governs the namespace: adoption is off by default",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        answers={"describe": [ADOPTABLE], "tags": [{}]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("AdoptionNotAllowed"),
        events=[("Warning", "AdoptionNotAllowed")],
    ),
    Row(
        "adopt, the policy does not allow adoption",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        governance=governed(TEAM_A),
        answers={"describe": [ADOPTABLE], "tags": [{}]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("AdoptionNotAllowed"),
        events=[("Warning", "AdoptionNotAllowed")],
    ),
    Row(
        "adopt a job whose own role the policy refuses: refused, never tagged",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        governance=governed(TEAM_A, allow_adoption=True),
        answers={
            "describe": [{**ADOPTABLE, "RoleArn": "arn:aws:iam::123456789012:role/admin"}],
            "tags": [{}],
        },
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("NotAllowedByPolicy"),
        events=[("Warning", "NotAllowedByPolicy")],
    ),
    Row(
        "adopt another resource's job: NameConflict that does not say whose",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        governance=governed(TEAM_A, allow_adoption=True),
        answers={"describe": [ADOPTABLE], "tags": [THEIRS]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("NameConflict"),
        events=[("Warning", "NameConflict")],
        hidden=("team-b", "secret-project"),
    ),
    Row(
        "adopt annotation other than 'true' does not adopt",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "yes"},
        answers={"describe": [described()], "tags": [{}]},
        calls=[("describe", JOB), ("tags", ARN)],
        expect=refused("NameConflict"),
        events=[("Warning", "NameConflict")],
    ),
    Row(
        "ResourceInUse race, the racer was this resource: adopted",
        answers={
            "describe": [described()],
            "create": [client_error("ResourceInUse", "Training job already exists")],
            "tags": [OURS],
        },
        calls=[REMEMBER, ("create", JOB), ("describe", JOB), ("tags", ARN)],
        expect={"phase": "InProgress", "trainingJobArn": ARN},
        events=[("Normal", "Adopted")],
    ),
    Row(
        "ResourceInUse race, the racer was someone else: NameConflict",
        answers={
            "describe": [described()],
            "create": [client_error("ResourceInUse", "Training job already exists")],
            "tags": [THEIRS],
        },
        calls=[REMEMBER, ("create", JOB), ("describe", JOB), ("tags", ARN)],
        expect=refused("NameConflict"),
        events=[("Warning", "NameConflict")],
    ),
    Row(
        "ResourceInUse, then gone again: retried later",
        answers={
            "describe": [NOT_FOUND],
            "create": [client_error("ResourceInUse", "Training job already exists")],
        },
        calls=[REMEMBER, ("create", JOB), ("describe", JOB)],
        raises=(errors.TransientError, "ResourceInUse"),
    ),
    *(
        Row(
            f"create refused permanently ({code}): Failed with SageMaker's words",
            answers={"create": [client_error(code, message)]},
            calls=[REMEMBER, ("create", JOB)],
            expect=refused(code, message),
            events=[("Warning", code)],
        )
        for code, message in [
            ("ValidationException", "1 validation error detected: Value 'x' at 'roleArn'"),
            ("ResourceLimitExceeded", "The account-level service limit 'ml.p4d.24xlarge' is 0"),
            ("ResourceNotFound", "Algorithm arn:aws:sagemaker:...:algorithm/x not found"),
            ("AccessDeniedException", "User is not authorized to perform: iam:PassRole"),
        ]
    ),
    Row(
        "botocore refuses the request before sending it: Failed",
        answers={"create": [ParamValidationError(report="bad")]},
        calls=[REMEMBER, ("create", JOB)],
        expect=refused("ValidationException"),
        events=[("Warning", "ValidationException")],
    ),
    *(
        Row(
            f"create {label}: retried, nothing written",
            answers={"create": [answer]},
            calls=[REMEMBER, ("create", JOB)],
            raises=raises,
        )
        for label, answer, raises in [
            ("throttled", THROTTLED, (errors.ThrottlingError, "ThrottlingException")),
            ("HTTP 429", TOO_MANY, (errors.ThrottlingError, "SlowDownPlease")),
            ("500", INTERNAL, (errors.TransientError, "InternalFailure")),
            ("503", UNAVAILABLE, (errors.TransientError, "ServiceUnavailable")),
            (
                "read timeout",
                ReadTimeoutError(endpoint_url="https://api.sagemaker"),
                (errors.TransientError, "NetworkError"),
            ),
        ]
    ),
    *(
        Row(
            f"look-up {label}: retried before any create",
            status=RECORDED,
            answers={"describe": [answer]},
            calls=[("describe", JOB)],
            raises=raises,
        )
        for label, answer, raises in [
            ("throttled", THROTTLED, (errors.ThrottlingError, "ThrottlingException")),
            (
                "cannot connect",
                EndpointConnectionError(endpoint_url="https://api.sagemaker"),
                (errors.TransientError, "NetworkError"),
            ),
            (
                "connect timeout",
                ConnectTimeoutError(endpoint_url="https://api.sagemaker"),
                (errors.TransientError, "NetworkError"),
            ),
            ("no credentials yet", NoCredentialsError(), (errors.TransientError, "NoCredentials")),
        ]
    ),
    Row(
        "tags throttled while claiming a found job: retried",
        status=RECORDED,
        answers={"describe": [described()], "tags": [THROTTLED]},
        calls=[("describe", JOB), ("tags", ARN)],
        raises=(errors.ThrottlingError, "ThrottlingException"),
    ),
    Row(
        "adopting, AddTags refused: the refusal is permanent, not swallowed",
        status=RECORDED,
        annotations={reconcile.ADOPT_ANNOTATION: "true"},
        governance=governed(TEAM_A, allow_adoption=True),
        answers={
            "describe": [ADOPTABLE],
            "tags": [{}],
            "add_tags": [client_error("AccessDeniedException", "not allowed to tag")],
        },
        calls=[("describe", JOB), ("tags", ARN), ("add_tags", ARN)],
        raises=(errors.PermanentError, "AccessDeniedException"),
    ),
]


@pytest.mark.parametrize("row", [row.param() for row in ROWS])
async def test_create(row: Row) -> None:
    await decide(row, reconcile.create)


async def test_the_create_request_carries_the_spec_and_provenance() -> None:
    row = Row(
        "request",
        spec={**SPEC, "tags": [{"key": "team", "value": "a"}]},
        answers={"create": [CREATED]},
        calls=[REMEMBER, ("create", JOB)],
        expect={"trainingJobArn": ARN},
        events=[("Normal", "Created")],
    )
    run = Run()
    outcome = await reconcile.create(ports_for(row, run), resource_of(row))
    check(row, run, outcome, None)
    (request,) = run.requests
    assert request["RoleArn"] == SPEC["roleArn"]
    assert request["ResourceConfig"] == {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
    }
    assert {t["Key"]: t["Value"] for t in request["Tags"]} == {"team": "a", **OURS}
    assert request["TrainingJobName"] == JOB
    assert "region" not in request  # the operator's own field never reaches SageMaker
