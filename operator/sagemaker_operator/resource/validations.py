"""CEL ``x-kubernetes-validations`` for the spec: what a schema alone cannot say.

Two kinds of rule, each refused at ``kubectl apply`` with a message naming the field:

- **Credential-looking values** anywhere in the free-form strings of the members found by
  ``credential_members`` (hyper-parameters, environment, tags, every map of parameters, the
  container's command line), refused with SageMaker's own warning quoted from the model. A
  safety net against mistakes, not a control: a value can always be encoded past a pattern.
- **Cross-field rules** that SageMaker documents in prose (each quotes its source below).

None compares with ``oldSelf``: the API server evaluates a CRD's rules on status writes too,
so what cannot change after creation is a ValidatingAdmissionPolicy (``immutability``).

Cost: each rule's estimated cost is bounded by the ``maxProperties``/``maxItems``/``maxLength``
the model puts on the maps, lists and strings it reads (100 hyper-parameters of at most 2,500
characters); credential rules sit on the string values themselves so their cost is per value.
The API server checks the estimate when the CRD is applied; a test applies it.
"""

import re
from collections.abc import Iterator
from typing import Any

from sagemaker_operator.names import GROUP
from sagemaker_operator.resource import model, naming, text

Schema = dict[str, Any]
Rule = dict[str, str]

# Values that are credentials, not parameters: (what it looks like, RE2 pattern for CEL's
# ``matches``, which finds a match anywhere in the value; RE2's ``$`` is the end of the value
# only, so a trailing newline is just another character).
CREDENTIAL_PATTERNS: tuple[tuple[str, str], ...] = (
    # 20 characters of [A-Z0-9]; AKIA long-term, ASIA temporary. Case matters: ids are
    # upper-case, and lower-case look-alikes are ordinary words.
    ("an AWS access key id", r"(^|[^A-Z0-9])(AKIA|ASIA)[A-Z0-9]{16}([^A-Z0-9]|$)"),
    # PEM and PGP armour: "-----BEGIN [RSA |EC |OPENSSH |ENCRYPTED |PGP ]PRIVATE KEY[ BLOCK]".
    ("a private key", r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY"),
    # Case does not matter in an Authorization scheme (RFC 9110 section 11.1).
    ("a bearer token", r"(?i)(^|[^a-z])bearer\s+[a-z0-9._~+/-]{16}"),
)

# An AWS secret access key is a *token*: 40 characters of [A-Za-z0-9/+] with a non-member
# (or the start or end) on each side, mixing upper case, lower case and digits, so that a
# 40-character hex digest (a git commit) or a lower-case slug is not refused.
#
# NB: the natural rule, ``self.findAll(token).exists(t, t.matches('[A-Z]') && ...)``, cannot
# be applied: the API server knows nothing of the size of findAll's elements, estimates the
# ``matches`` on them as unbounded and refuses the CRD. So the rule counts matches on ``self``
# alone (whose maxLength bounds the estimate) of two patterns that differ in one place. Both
# match each token of 40 or more characters once, whole, from its first character (findAll
# resumes after a match, at the token's end): the first alternative when its first 40
# characters lack an upper-case letter, a lower-case letter or a digit, else the second,
# which needs 40 characters in ``_ANY_TOKEN`` but 41 in ``_LONG_TOKEN``. The only token
# counted by the first pattern and not the second is a secret key; a shorter token matches
# neither anywhere. Cost: on ruleParameters (20 rules x 100 values of 256 characters) the API
# server estimates this rule at about 85% of its per-rule limit; do not lengthen the patterns.
_KEY = "[A-Za-z0-9/+]"
_LACKING = f"([a-z0-9/+]{{40}}|[A-Z0-9/+]{{40}}|[A-Za-z/+]{{40}}){_KEY}*"
_ANY_TOKEN = f"{_LACKING}|{_KEY}{{40,}}"
_LONG_TOKEN = f"{_LACKING}|{_KEY}{{41,}}"


def _secret_key_rule() -> str:
    """CEL, true when no token of ``self`` looks like an AWS secret access key."""
    count = "size(self.findAll({}))".format
    return f"{count(_cel_string(_ANY_TOKEN))} == {count(_cel_string(_LONG_TOKEN))}"


SECRET_KEY_KIND = "an AWS secret access key"

# Environment variable names that carry AWS credentials whatever their value (botocore reads
# AWS_SECURITY_TOKEN too); variable names are case-sensitive for the process but a lower-case
# one is the same mistake.
CREDENTIAL_VARIABLES = (
    r"(?i)^(AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|AWS_SESSION_TOKEN|AWS_SECURITY_TOKEN)$"
)

# What the model cannot say: these members are lists of free-form strings like any list of
# names (S3DataSource.AttributeNames, for one), but they are the container's command line.
COMMAND_LINE: tuple[tuple[str, ...], ...] = (
    ("AlgorithmSpecification", "ContainerEntrypoint"),
    ("AlgorithmSpecification", "ContainerArguments"),
)
# The member whose warning is quoted for members that have none of their own.
QUOTED_MEMBER = "HyperParameters"

_WARNING = re.compile(r"Do not include any security-sensitive information[^.]*\.")

SECONDS_IN_A_DAY = 86_400  # "The default value is 1 day." (StoppingCondition.MaxRuntimeInSeconds)


def _warning_in(documentation: str | None) -> str | None:
    found = _WARNING.search(text.plain(documentation or ""))
    return found.group(0) if found else None


def warning_for(member: str) -> str:
    """SageMaker's own warning against secrets in ``member``, quoted from the model."""
    found = _warning_in(model.create_input().members[member].documentation)
    # NB: the fallback is only reached if AWS rewrites the sentence; the test of the warning
    # then fails.
    return found or f"Do not include any security-sensitive information in {member}."


def _cel_string(value: str) -> str:
    assert "'" not in value, value
    return f"r'{value}'"


def credential_rules(field: str, warning: str | None) -> list[Rule]:
    """Rules for one string value of the member named ``field`` (the rule's ``self``).

    ``warning``: SageMaker's warning in the documentation of the member itself; a member
    without one gets the warning on hyperParameters, which holds as much for it.
    """
    quote = warning or warning_for(QUOTED_MEMBER)
    also = "" if warning else f" That holds for {field} too: DescribeTrainingJob returns it."
    checks = [(kind, f"!self.matches({_cel_string(p)})") for kind, p in CREDENTIAL_PATTERNS]
    checks.append((SECRET_KEY_KIND, _secret_key_rule()))
    return [
        {
            "rule": rule,
            "message": f'looks like {kind}; SageMaker\'s documentation says: "{quote}"{also} '
            "Give the training code its secrets another way (for example AWS Secrets Manager, "
            "read with the job's role).",
        }
        for kind, rule in checks
    ]


def _is_credential_member(path: tuple[str, ...], shape: model.Shape) -> bool:
    """Whether the credential rules read every string value of the member at ``path``."""
    return (
        _warning_in(shape.documentation) is not None  # SageMaker's warning: the model says
        or (shape.type_name == "map" and shape.value.type_name == "string")  # parameters
        or path in COMMAND_LINE
    )


def credential_members() -> list[tuple[tuple[str, ...], model.Shape]]:
    """(member path, shape) of each member whose string values the credential rules read, in
    the model's order. Lists are walked through: ``("DebugRuleConfigurations",
    "RuleParameters")`` is the parameters of every rule."""
    return list(_members_under(model.create_input(), (), ()))


def _members_under(
    shape: model.Shape, path: tuple[str, ...], stack: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], model.Shape]]:
    if shape.name in stack:
        return  # NB: CreateTrainingJob has no recursive shape; this only ends such a walk
    if shape.type_name == "list":
        yield from _members_under(shape.member, path, (*stack, shape.name))
    elif shape.type_name == "structure":
        for member, sub in shape.members.items():
            sub_path = (*path, member)
            if _is_credential_member(sub_path, sub):
                yield sub_path, sub
            else:
                yield from _members_under(sub, sub_path, (*stack, shape.name))


def _schema_at(spec: Schema, path: tuple[str, ...]) -> Schema:
    """The schema of the member at ``path`` (list steps walked through, as in the path)."""
    shape, schema = model.create_input(), spec
    for member in path:
        while shape.type_name == "list":
            shape, schema = shape.member, schema["items"]
        shape, schema = shape.members[member], schema["properties"][_field(member)]
    return schema


def _free_form_strings(shape: model.Shape, schema: Schema) -> Iterator[Schema]:
    """The schema of every string value in ``shape`` without an enum (map keys are names, not
    values: the environment's are checked on the map)."""
    kind = shape.type_name
    if kind == "string" and "enum" not in shape.metadata:
        yield schema
    elif kind == "list":
        yield from _free_form_strings(shape.member, schema["items"])
    elif kind == "map":
        yield from _free_form_strings(shape.value, schema["additionalProperties"])
    elif kind == "structure":
        for member, sub in shape.members.items():
            yield from _free_form_strings(sub, schema["properties"][_field(member)])


def _field(member: str) -> str:
    return naming.field_name(member)


def _add(schema: Schema, rules: list[Rule] | Iterator[Rule]) -> None:
    schema.setdefault("x-kubernetes-validations", []).extend(rules)


def add_rules(spec: Schema) -> None:
    """Attach every CEL rule to the generated spec schema (in place)."""
    props = spec["properties"]
    # Credentials: on each string value, so each rule's cost is that of one value.
    for path, shape in credential_members():
        rules = credential_rules(_field(path[-1]), _warning_in(shape.documentation))
        for value in _free_form_strings(shape, _schema_at(spec, path)):
            # NB: copies, as a dict shared by two schemas would be dumped as a YAML alias.
            _add(value, [dict(rule) for rule in rules])
    _add(
        props[_field("Environment")],
        [
            {
                "rule": f"!self.exists(k, k.matches({_cel_string(CREDENTIAL_VARIABLES)}))",
                "message": "AWS credentials do not belong in environment (AWS_ACCESS_KEY_ID, "
                "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_SECURITY_TOKEN, in any case); "
                f'SageMaker\'s documentation says: "{warning_for("Environment")}" The job runs '
                "with the credentials of roleArn.",
            }
        ],
    )

    # Cross-field rules SageMaker documents in prose.
    _add(
        props["algorithmSpecification"],
        [
            {
                # "You must specify either the algorithm name to the AlgorithmName parameter
                # or the image URI of the algorithm container to the TrainingImage parameter.
                # [...] the AlgorithmName parameter is mutually exclusive with the
                # TrainingImage parameter." (AlgorithmSpecification.AlgorithmName)
                "rule": "has(self.algorithmName) != has(self.trainingImage)",
                "message": "set exactly one of algorithmName and trainingImage: SageMaker "
                "says they are mutually exclusive and one is required",
            }
        ],
    )
    _add(
        spec,
        [
            {
                # "The maximum length of time, in seconds, that a managed Spot training job
                # has to complete." (StoppingCondition.MaxWaitTimeInSeconds)
                "rule": "!has(self.stoppingCondition) || "
                "!has(self.stoppingCondition.maxWaitTimeInSeconds) || "
                "(has(self.enableManagedSpotTraining) && self.enableManagedSpotTraining)",
                "fieldPath": ".stoppingCondition.maxWaitTimeInSeconds",
                "message": "maxWaitTimeInSeconds applies to managed Spot training only: set "
                "enableManagedSpotTraining: true or remove it",
            }
        ],
    )
    _add(
        props["stoppingCondition"],
        [
            {
                # "It must be equal to or greater than MaxRuntimeInSeconds."
                # (MaxWaitTimeInSeconds); "The default value is 1 day." (MaxRuntimeInSeconds)
                "rule": "!has(self.maxWaitTimeInSeconds) || self.maxWaitTimeInSeconds >= "
                f"(has(self.maxRuntimeInSeconds) ? self.maxRuntimeInSeconds : {SECONDS_IN_A_DAY})",
                "fieldPath": ".maxWaitTimeInSeconds",
                "message": "maxWaitTimeInSeconds must be equal to or greater than "
                "maxRuntimeInSeconds (which defaults to 1 day, 86400 seconds)",
            },
            {
                # "The maximum value is 28 days." (MaxRuntimeInSeconds)
                "rule": "!has(self.maxRuntimeInSeconds) || "
                f"self.maxRuntimeInSeconds <= {28 * SECONDS_IN_A_DAY}",
                "fieldPath": ".maxRuntimeInSeconds",
                "message": "maxRuntimeInSeconds can be at most 28 days (2419200 seconds)",
            },
        ],
    )
    _add(
        props["inputDataConfig"],
        [
            {
                # "Each channel is a named input source." (InputDataConfig)
                "rule": "self.all(c, self.exists_one(d, d.channelName == c.channelName))",
                "message": "channelName must be unique within inputDataConfig",
            }
        ],
    )
    _add(
        props["tags"],
        [
            {
                "rule": f"self.all(t, !t.key.startsWith('{GROUP}/'))",
                "message": f"tag keys starting with {GROUP}/ are reserved: the operator "
                "puts its provenance tags there",
            }
        ],
    )
