"""The members of ``spec`` that name something outside the cluster, derived from the model.

A multi-tenant policy has to check every member of a TrainingJob's ``spec`` that names
another team's role, bucket, key, network, image, file system or SageMaker entity. The list
is not written per member: ``classify`` walks botocore's ``CreateTrainingJob`` input shape
down to its leaves (a list's items are ``[]``, a map's values ``{}``) and gives each leaf a
``Kind`` by the first of these rules on its *shape* that matches, so a member the model adds
later is classified by the same rules (and a test checks the rules leave no ``...Arn`` leaf
out):

==================  ========================================================================
``ROLE``            shape named ``...RoleArn``, or a pattern naming an IAM role
                    (``:iam::...:role``)
``KMS_KEY``         shape named ``...KmsKeyId``/``...KmsKeyArn``, or a pattern with ``:kms:``
``SUBNET``          shape named ``...SubnetId``
``SECURITY_GROUP``  shape named ``...SecurityGroupId``
``FILE_SYSTEM``     shape named ``...FileSystemId``, or a pattern of ``fs-`` ids
``S3``              a pattern for ``s3://`` or ``(https|s3)://`` URIs, or a shape named
                    ``S3...Uri``/``S3...Path``
``IMAGE``           shape named ``...Image`` or ``...ImageUri`` (``AlgorithmImage``, the
                    ``ContainerImage`` family: registry paths of container images)
``ARN``             any other shape with ``Arn`` as a word of its name (``TrainingPlanArn``,
                    ``HubContentArn``, ``ArnOrName``), or a pattern that starts with ``arn:``
``NAME``            a shape naming an experiment-tracking entity (``ExperimentEntityName``,
                    ``...ExperimentName``, ``...TrialName``, ``...RunName``) unless the
                    member is a ``...DisplayName`` (a label of the job's own record, which
                    names nothing else), or a member documented as "the name of an
                    existing ..." entity
``FLAG``            a boolean whose documentation speaks of a role, session tags or
                    credentials: a switch that widens the credentials the job runs with
==================  ========================================================================

The order matters where rules overlap: an IAM role or KMS key ARN is a ``ROLE`` or a
``KMS_KEY``, not an ``ARN``; ``AlgorithmName`` (shape ``ArnOrName``: an algorithm's ARN or the
name of one in the account or from AWS Marketplace) is an ``ARN``. Free text such as
hyper-parameters, environment values, tags and container arguments is no reference, and nor
are enums, numbers, and names the job gives its own parts (channels, instance groups, rules).
Of the booleans only ``EnableSessionTagChaining`` is a ``FLAG`` today: the others narrow
what the job reaches (network isolation, traffic encryption), or concern cost, health checks,
debugging and metrics; a policy that wants to *require* one checks that field itself, since an
absent boolean is no reference. Paths inside something already referenced (a file system's
``DirectoryPath``, an UltraServer id of the training plan's capacity) are not references either.

``references`` reads the classified members present in a spec, with list indexes in their
paths. Values are read as the request mapping (``request.to_request``) reads them: a value
of another type than the model's is skipped here because that mapping refuses it before any
call to SageMaker. S3 URIs are parsed by ``parse_s3`` and compared with a policy's prefixes by
``s3_within``; ``sagemaker_regions`` lists the Regions botocore knows for SageMaker.
"""

import dataclasses
import enum
import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

import botocore.session

from sagemaker_operator.resource import model, naming, text


class Kind(enum.StrEnum):
    """What a member names; the value is the policy's field that lists what is allowed."""

    ROLE = "roleArns"
    S3 = "s3"
    KMS_KEY = "kmsKeys"
    IMAGE = "images"
    SUBNET = "subnets"
    SECURITY_GROUP = "securityGroups"
    FILE_SYSTEM = "fileSystems"
    ARN = "arns"
    NAME = "names"
    FLAG = "flags"


LIST_ITEM = "[]"
MAP_VALUE = "{}"

# A pattern's leading literal, after an optional ``^`` and opening parentheses.
_PATTERN_LEAD = r"^\^?\(*"
_ROLE_PATTERN = re.compile(r":iam::[^:]*:role(?![a-z])")
_KMS_PATTERN = re.compile(r":kms:")
_FS_PATTERN = re.compile(_PATTERN_LEAD + r"fs-")
_S3_PATTERN = re.compile(_PATTERN_LEAD + r"(https\|)?s3\)*://")
_ARN_PATTERN = re.compile(_PATTERN_LEAD + r"arn:")
_ARN_WORD = re.compile(r"Arns?(?![a-z])")
_TRACKING_NAME = re.compile(r"(Experiment|Trial|Run)(Entity)?Name$")
_EXISTING_NAME = re.compile(r"(?i)\bthe name of an existing\b")
_WIDENING_SWITCH = re.compile(r"(?i)\b(roles?|session tags?|credentials?)\b")


def kind_of(member: str, shape: model.Shape) -> Kind | None:
    """The kind of reference a leaf of ``shape`` under ``member`` is, or None.

    ``member`` is the structure member the leaf belongs to (``Subnets`` for the items of
    ``VpcConfig.Subnets``); ``shape`` is the leaf's own shape (``SubnetId``).
    """
    name: str = shape.name
    if shape.type_name == "boolean":
        documentation = text.plain(shape.documentation)
        return Kind.FLAG if _WIDENING_SWITCH.search(documentation) else None
    if shape.type_name != "string":
        return None
    pattern: str = shape.metadata.get("pattern") or ""
    rules: tuple[tuple[Kind, bool], ...] = (
        (Kind.ROLE, name.endswith("RoleArn") or bool(_ROLE_PATTERN.search(pattern))),
        (
            Kind.KMS_KEY,
            bool(re.search(r"KmsKey(Id|Arn)$", name)) or bool(_KMS_PATTERN.search(pattern)),
        ),
        (Kind.SUBNET, name.endswith("SubnetId")),
        (Kind.SECURITY_GROUP, name.endswith("SecurityGroupId")),
        (Kind.FILE_SYSTEM, name.endswith("FileSystemId") or bool(_FS_PATTERN.match(pattern))),
        (
            Kind.S3,
            bool(_S3_PATTERN.match(pattern)) or bool(re.search(r"S3\w*(Uri|Path)$", name)),
        ),
        (Kind.IMAGE, bool(re.search(r"Image(Uri)?$", name))),
        (Kind.ARN, bool(_ARN_WORD.search(name)) or bool(_ARN_PATTERN.match(pattern))),
        (
            Kind.NAME,
            (bool(_TRACKING_NAME.search(name)) and not member.endswith("DisplayName"))
            or bool(_EXISTING_NAME.search(text.plain(shape.documentation))),
        ),
    )
    return next((kind for kind, matches in rules if matches), None)


def _leaves(
    shape: model.Shape, path: tuple[str, ...], member: str, seen: frozenset[str]
) -> Iterator[tuple[tuple[str, ...], str, model.Shape]]:
    """(field path, member, leaf shape) of every leaf under ``shape``."""
    kind = shape.type_name
    if kind == "structure":
        if shape.name in seen:  # pragma: no cover - CreateTrainingJob has no recursive shape
            return
        for name, sub in shape.members.items():
            yield from _leaves(sub, (*path, naming.field_name(name)), name, seen | {shape.name})
    elif kind == "list":
        yield from _leaves(shape.member, (*path, LIST_ITEM), member, seen)
    elif kind == "map":
        yield from _leaves(shape.value, (*path, MAP_VALUE), member, seen)
    else:
        yield path, member, shape


def leaves() -> Iterator[tuple[tuple[str, ...], model.Shape]]:
    """(field path, leaf shape) of every leaf of the ``CreateTrainingJob`` request."""
    for path, _member, shape in _leaves(model.create_input(), (), "", frozenset()):
        yield path, shape


@functools.cache
def _classified() -> dict[tuple[str, ...], Kind]:
    table: dict[tuple[str, ...], Kind] = {}
    for path, member, shape in _leaves(model.create_input(), (), "", frozenset()):
        kind = kind_of(member, shape)
        if kind is not None:
            table[path] = kind
    return table


def classify() -> dict[tuple[str, ...], Kind]:
    """Field path (``("vpcConfig", "subnets", "[]")``) -> kind, for every reference leaf."""
    return dict(_classified())


def dotted(path: tuple[str, ...]) -> str:
    """``("inputDataConfig", "[]", "channelName")`` -> ``inputDataConfig[].channelName``."""
    out = ""
    for part in path:
        out += part if part in (LIST_ITEM, MAP_VALUE) or not out else f".{part}"
    return out


@dataclasses.dataclass(frozen=True)
class Reference:
    """One reference present in a spec: ``inputDataConfig[0].dataSource.s3DataSource.s3Uri``."""

    path: str
    kind: Kind
    value: str


_Trie = dict[str, Any]


@functools.cache
def _trie() -> _Trie:
    """The classified paths as nested dicts; a leaf holds its ``Kind``."""
    root: _Trie = {}
    for path, kind in _classified().items():
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = kind
    return root


def _found(node: _Trie | Kind, value: Any, path: str) -> Iterator[Reference]:
    """The references under ``node`` of the trie in ``value``, the part of spec at ``path``."""
    if isinstance(node, Kind):
        if node is Kind.FLAG:
            if isinstance(value, bool):
                yield Reference(path, node, "true" if value else "false")
        elif isinstance(value, str):
            yield Reference(path, node, value)
    elif LIST_ITEM in node:
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield from _found(node[LIST_ITEM], item, f"{path}[{i}]")
    elif MAP_VALUE in node:
        if isinstance(value, Mapping):
            for key, item in value.items():
                yield from _found(node[MAP_VALUE], item, f"{path}.{key}")
    elif isinstance(value, Mapping):
        for field, child in node.items():
            if field in value:
                yield from _found(child, value[field], f"{path}.{field}" if path else field)


def references(spec: Mapping[str, Any]) -> list[Reference]:
    """Every reference present in ``spec``, in the model's order (booleans as "true"/"false")."""
    return list(_found(_trie(), spec, ""))


# --- S3 ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class S3Location:
    """A bucket and a key (``""`` for the whole bucket)."""

    bucket: str
    key: str


# General purpose bucket names: 3 to 63 lower-case letters, digits, dots and hyphens, starting
# and ending with a letter or digit, no two adjacent periods, not an IP address.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_REGION = r"[a-z]{2}(?:-[a-z]+)+-[0-9]+"
_DOMAIN = r"amazonaws\.com(?:\.cn)?"
_PATH_STYLE_HOST = re.compile(rf"s3(?:[.-]{_REGION})?\.{_DOMAIN}")
_VIRTUAL_HOST = re.compile(rf"(?P<bucket>[a-z0-9.-]+)\.s3(?:[.-]{_REGION})?\.{_DOMAIN}")
# A key may hold printable ASCII except what a URL parser or HTTP client reads specially.
_KEY = re.compile(r"[\x21-\x7e]*")
_KEY_REFUSED = re.compile(r"[%?#\\]")


def _bucket_ok(bucket: str) -> bool:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        return False
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        return True
    return False


def _key_ok(key: str) -> bool:
    if not _KEY.fullmatch(key) or _KEY_REFUSED.search(key):
        return False
    return not any(segment in (".", "..") for segment in key.split("/"))


def parse_s3(value: str) -> S3Location | None:
    """The bucket and key an S3 URI names, or None when it is not one this accepts.

    Accepted, after Amazon S3's "Virtual hosting of general purpose buckets" (virtual-hosted
    style, path style, and the legacy global and ``s3-Region`` endpoints in its "Backward
    compatibility" section: https://docs.aws.amazon.com/AmazonS3/latest/userguide/
    VirtualHosting.html), with ``.amazonaws.com.cn`` for the China Regions::

        s3://bucket/key
        https://bucket.s3.amazonaws.com/key           https://s3.amazonaws.com/bucket/key
        https://bucket.s3.Region.amazonaws.com/key    https://s3.Region.amazonaws.com/bucket/key
        https://bucket.s3-Region.amazonaws.com/key    https://s3-Region.amazonaws.com/bucket/key

    Anything else is refused rather than guessed at, since a policy then denies the job:
    other hosts and endpoints (dual-stack, FIPS, access points, accelerate), ``http://``,
    upper case in the scheme or host, user info, ports, query strings and fragments, ``%``
    (no percent-encoded ``/`` or ``..`` can hide in a bucket or key), backslashes, spaces
    and control characters, ``.`` and ``..`` segments (an HTTP client may resolve them into
    another bucket), and bucket names outside S3's naming rules
    (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html).
    """
    if value.startswith("s3://"):
        bucket, _, key = value[len("s3://") :].partition("/")
    elif value.startswith("https://"):
        host, slash, rest = value[len("https://") :].partition("/")
        virtual = _VIRTUAL_HOST.fullmatch(host)
        if _PATH_STYLE_HOST.fullmatch(host):
            bucket, _, key = rest.partition("/")
        elif virtual:
            bucket, key = virtual.group("bucket"), rest
        else:
            return None
        if not slash and not virtual:
            return None
    else:
        return None
    if not _bucket_ok(bucket) or not _key_ok(key):
        return None
    return S3Location(bucket, key)


def s3_within(location: S3Location, prefix: str) -> bool:
    """Whether ``location`` is inside ``prefix`` (``s3://bucket`` or ``s3://bucket/path``).

    Matched on whole path segments: ``s3://team-a`` is bucket ``team-a`` only (not
    ``team-a-evil``); ``s3://team-a/data`` is key ``data`` and keys under ``data/`` (not
    ``data2/...``); ``s3://team-a/data/`` is keys under ``data/`` only. A prefix that is not
    such an ``s3://`` URI raises ``ValueError``: it is the policy's mistake, not the job's.
    """
    allowed = parse_s3(prefix) if prefix.startswith("s3://") else None
    if allowed is None:
        raise ValueError(f"not an S3 prefix of the form s3://bucket[/path]: {prefix!r}")
    if location.bucket != allowed.bucket:
        return False
    if not allowed.key:
        return True
    if allowed.key.endswith("/"):
        return location.key.startswith(allowed.key)
    return location.key == allowed.key or location.key.startswith(allowed.key + "/")


# --- Regions ----------------------------------------------------------------------------------


@functools.cache
def sagemaker_regions() -> frozenset[str]:
    """The Regions botocore's endpoint data has SageMaker in, across all partitions."""
    session = botocore.session.get_session()
    return frozenset(
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions(model.SERVICE, partition_name=partition)
    )
