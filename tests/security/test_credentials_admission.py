"""Credential-looking values refused at ``kubectl apply``, on a real kube-apiserver.

The CRD's CEL rules are a safety net, not a control: these cases are the mistakes and the
easy bypasses it must catch (a secret after ``key=``, after a newline or a leading character,
after a look-alike; lower-case variable names; every member that takes free-form strings), and
the look-alikes it must let through (git commit digests, lower-case tokens, base64 of another
length). Every refused case here was accepted by the rules before (whole-value secret-key
test, upper-case variable names only, hyper-parameters and environment only).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator

import pytest

from sagemaker_operator.devstack.controlplane import ControlPlane
from sagemaker_operator.resource import naming, validations
from tests.api.test_admission import (
    CREDENTIAL,
    Mutation,
    Spec,
    _apply,
    _debugger,
    _minimal,
    _set,
    trainingjob_crd,  # noqa: F401 - module fixture, by name
)
from tests.plugins.controlplane import Kubectl

# AWS's own documentation examples: 40 characters of [A-Za-z0-9/+] mixing case and digits, and
# an access key id.
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig"
# A git commit digest: 40 lower-case hex characters, no upper case.
COMMIT = "9fceb02d0ae598e95dc970b74767f19372d61af8"
OTHER_COMMIT = "1b2e4d5c8a7f9e0d3c6b2a1f0e9d8c7b6a5f4e3d"
# 40 characters of the secret key's alphabet, without upper case.
LOWER_TOKEN = "abcdefghij0123456789klmnopqrst/+4567wxyz"
# Ordinary base64 mixing case and digits, of another length than 40.
BASE64 = base64.b64encode(b"training data manifest, version 2").decode()
SECRET_KEY = "secret access key"

Base = Callable[[], Spec]

# The generated CRD, applied client-side to the API server (test_admission's fixture).
pytestmark = pytest.mark.usefixtures("trainingjob_crd")

# (id, base spec, mutation, what the refusal must say: the field's path and the kind)
REFUSED: list[tuple[str, Base, Mutation, tuple[str, ...]]] = [
    # bypasses of the whole-value secret-key test
    (
        "secret-after-key-equals",
        _minimal,
        _set("hyperParameters.creds", f"key={SECRET}"),
        ("spec.hyperParameters[creds]", SECRET_KEY, CREDENTIAL),
    ),
    (
        "secret-with-trailing-newline",
        _minimal,
        _set("environment", {"S3_SECRET": f"{SECRET}\n"}),
        ("spec.environment[S3_SECRET]", SECRET_KEY, CREDENTIAL),
    ),
    (
        "secret-after-leading-character",
        _minimal,
        _set("hyperParameters.creds", f" {SECRET}"),
        ("spec.hyperParameters[creds]", SECRET_KEY, CREDENTIAL),
    ),
    (
        "secret-after-a-commit",
        _minimal,
        _set("hyperParameters.revisions", f"{COMMIT},{SECRET}"),
        ("spec.hyperParameters[revisions]", SECRET_KEY, CREDENTIAL),
    ),
    (
        "secret-at-end-of-long-value",
        _minimal,
        _set("hyperParameters.notes", f"{'lorem ipsum ' * 200}{SECRET}"),
        ("spec.hyperParameters[notes]", SECRET_KEY, CREDENTIAL),
    ),
    # variable names in any case
    (
        "lower-case-secret-variable",
        _minimal,
        _set("environment", {"aws_secret_access_key": "x"}),
        ("spec.environment", "AWS credentials", CREDENTIAL),
    ),
    (
        "mixed-case-session-variable",
        _minimal,
        _set("environment", {"Aws_Session_Token": "x"}),
        ("spec.environment", "AWS credentials", CREDENTIAL),
    ),
    (
        "legacy-security-token-variable",
        _minimal,
        _set("environment", {"AWS_SECURITY_TOKEN": "x"}),
        ("spec.environment", "AWS credentials", CREDENTIAL),
    ),
    (
        "pgp-private-key",
        _minimal,
        _set("hyperParameters.signing", "-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQOYBF"),
        ("spec.hyperParameters[signing]", "private key", CREDENTIAL),
    ),
    # members the rules did not read
    (
        "container-arguments",
        _minimal,
        _set("algorithmSpecification.containerArguments", ["--secret-key", SECRET]),
        (
            "spec.algorithmSpecification.containerArguments[1]",
            SECRET_KEY,
            CREDENTIAL,
            "That holds for containerArguments too",
        ),
    ),
    (
        "container-entrypoint",
        _minimal,
        _set(
            "algorithmSpecification.containerEntrypoint",
            ["env", f"AWS_ACCESS_KEY_ID={ACCESS_KEY_ID}", "python", "train.py"],
        ),
        ("spec.algorithmSpecification.containerEntrypoint[1]", "access key id", CREDENTIAL),
    ),
    (
        "debug-rule-parameters",
        _debugger,
        _set("debugRuleConfigurations.0.ruleParameters.api_key", SECRET),
        ("spec.debugRuleConfigurations[0].ruleParameters[api_key]", SECRET_KEY, CREDENTIAL),
    ),
    (
        "profiler-rule-parameters",
        _debugger,
        _set("profilerRuleConfigurations.0.ruleParameters.auth", BEARER),
        ("spec.profilerRuleConfigurations[0].ruleParameters[auth]", "bearer token", CREDENTIAL),
    ),
    (
        "debug-hook-parameters",
        _debugger,
        _set("debugHookConfig.hookParameters", {"key_id": ACCESS_KEY_ID}),
        ("spec.debugHookConfig.hookParameters[key_id]", "access key id", CREDENTIAL),
    ),
    (
        "collection-parameters",
        _debugger,
        _set("debugHookConfig.collectionConfigurations.1.collectionParameters.key", SECRET),
        (
            "spec.debugHookConfig.collectionConfigurations[1].collectionParameters[key]",
            SECRET_KEY,
        ),
    ),
    (
        "profiling-parameters",
        _debugger,
        _set("profilerConfig.profilingParameters", {"DataloaderProfilingConfig": SECRET}),
        ("spec.profilerConfig.profilingParameters[DataloaderProfilingConfig]", SECRET_KEY),
    ),
    (
        "tag-value",
        _minimal,
        _set("tags", [{"key": "owner", "value": ACCESS_KEY_ID}]),
        ("spec.tags[0].value", "access key id", CREDENTIAL, "in any tags"),
    ),
    (
        "tag-key",
        _minimal,
        _set("tags", [{"key": SECRET, "value": "x"}]),
        ("spec.tags[0].key", SECRET_KEY, CREDENTIAL),
    ),
]

# (id, base spec, mutation): look-alikes that are not credentials
ACCEPTED: list[tuple[str, Base, Mutation]] = [
    ("commit", _minimal, _set("hyperParameters.commit", COMMIT)),
    ("commits", _minimal, _set("hyperParameters.commits", f"{COMMIT} {OTHER_COMMIT}")),
    ("commit-after-key", _minimal, _set("environment", {"GIT_COMMIT": f"sha={COMMIT}"})),
    ("upper-case-digest", _minimal, _set("hyperParameters.digest", COMMIT.upper())),
    (
        "lower-case-token",
        _minimal,
        _set("hyperParameters.run", LOWER_TOKEN),
    ),
    ("base64-other-length", _minimal, _set("hyperParameters.manifest", BASE64)),
    (
        "commit-in-arguments",
        _minimal,
        _set("algorithmSpecification.containerArguments", ["--revision", COMMIT]),
    ),
    (
        "commit-in-rule-parameters",
        _debugger,
        _set("debugRuleConfigurations.0.ruleParameters.c", COMMIT),
    ),
    ("region-variables", _minimal, _set("environment", {"AWS_REGION": "us-east-1"})),
    ("ordinary-tag", _minimal, _set("tags", [{"key": "commit", "value": COMMIT}])),
]


@pytest.fixture(scope="module")
def credentials_namespace(control_plane: ControlPlane) -> Iterator[str]:
    name = "crd-admission-credentials"
    control_plane.kubectl("create", "namespace", name)
    yield name
    control_plane.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _has_all_classes(token: str) -> bool:
    return all(re.search(c, token) for c in ("[A-Z]", "[a-z]", "[0-9]"))


def test_the_look_alikes_look_alike() -> None:
    # The accepted cases only prove something if they are what they claim to be.
    assert len(SECRET) == 40
    assert _has_all_classes(SECRET)
    assert re.fullmatch("[0-9a-f]{40}", COMMIT)
    assert re.fullmatch("[0-9a-f]{40}", OTHER_COMMIT)
    assert re.fullmatch("[a-z0-9/+]{40}", LOWER_TOKEN)
    assert len(BASE64) != 40
    assert _has_all_classes(BASE64)
    assert re.fullmatch("[A-Za-z0-9/+]+=*", BASE64)


def test_every_credential_member_has_a_refused_case() -> None:
    # The members come from walking the model: one it finds later needs a case here too.
    said = [text for *_, says in REFUSED for text in says]
    for path, _ in validations.credential_members():
        fields = [naming.field_name(member) for member in path]
        pattern = re.compile(r"spec\." + r"(\[\d+\])?\.".join(map(re.escape, fields)))
        assert any(pattern.match(text) for text in said), f"no refused case for {path}"


@pytest.mark.parametrize(("case", "base", "mutate", "says"), REFUSED, ids=[c[0] for c in REFUSED])
def test_credentials_are_refused_naming_the_field(
    kubectl: Kubectl,
    credentials_namespace: str,
    case: str,
    base: Base,
    mutate: Mutation,
    says: tuple[str, ...],
) -> None:
    spec = base()
    mutate(spec)
    result = _apply(kubectl, credentials_namespace, f"refused-{case}", spec)
    assert result.returncode != 0, f"accepted: {case}"
    for text in says:
        assert text in result.stderr, result.stderr


@pytest.mark.parametrize(("case", "base", "mutate"), ACCEPTED, ids=[c[0] for c in ACCEPTED])
def test_look_alikes_are_accepted(
    kubectl: Kubectl, credentials_namespace: str, case: str, base: Base, mutate: Mutation
) -> None:
    spec = base()
    mutate(spec)
    result = _apply(kubectl, credentials_namespace, f"accepted-{case}", spec)
    assert result.returncode == 0, result.stderr
