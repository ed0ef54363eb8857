"""botocore's patterns in the regex dialect the API server checks ``pattern`` with.

The API server compiles an OpenAPI ``pattern`` with Go's ``regexp`` package (RE2 syntax) and
matches it *unanchored*. AWS writes its patterns for a full match, without anchors, so every
kept pattern is wrapped as ``^(?:...)$``.

Patterns are dropped (the member is then checked by type and length only) when:

- they accept anything (``.*``, ``.+``, ``[\\S\\s]*``): wrapping them would only add a way to be
  wrong, since ``.`` does not match a newline in RE2 while SageMaker accepts multi-line values;
- they use what RE2 cannot do: look-around such as the ``(?<!-)`` look-behind in
  ``ArnOrName`` (``AlgorithmName``), back-references, atomic groups, possessive quantifiers,
  ``\\Z``, and Java's POSIX property classes such as ``\\p{Alnum}`` in
  ``TrainingRepositoryCredentialsProviderArn``, and repeat counts above RE2's limit of 1000
  (``[\\S]{1,2048}`` in ``ModelPackageGroupArn`` and ``ModelPackageArn``). Unicode general
  categories (``\\p{L}``, ``\\p{Z}``, ``\\p{N}`` in ``TagKey``/``TagValue``) are RE2 and kept.

A test applies the CRD to a real API server, which refuses a pattern Go cannot compile.
"""

import re

TRIVIAL = frozenset({".*", ".+", "[\\S\\s]*", "[\\s\\S]*"})

# Unicode general categories RE2 knows (``\p{L}``, ``\pN``...); scripts are not used by the model.
_RE2_CATEGORIES = frozenset(
    [
        "C",
        "Cc",
        "Cf",
        "Co",
        "Cs",
        "L",
        "Ll",
        "Lm",
        "Lo",
        "Lt",
        "Lu",
        "M",
        "Mc",
        "Me",
        "Mn",
        "N",
        "Nd",
        "Nl",
        "No",
        "P",
        "Pc",
        "Pd",
        "Pe",
        "Pf",
        "Pi",
        "Po",
        "Ps",
        "S",
        "Sc",
        "Sk",
        "Sm",
        "So",
        "Z",
        "Zl",
        "Zp",
        "Zs",
        "Any",
    ]
)

_RE2_MAX_REPEAT = 1000

_NOT_RE2: tuple[tuple[str, str], ...] = (
    (r"\(\?<?[=!]", "look-around is not RE2"),
    (r"\(\?>", "atomic groups are not RE2"),
    (r"(?<!\\)[*+?}]\+", "possessive quantifiers are not RE2"),
    (r"\\[1-9]", "back-references are not RE2"),
    (r"\\Z", "\\Z is not RE2 (use \\z)"),
)


def unsupported(pattern: str) -> str | None:
    """Why RE2 cannot take ``pattern``, or None if it can."""
    for construct, reason in _NOT_RE2:
        if re.search(construct, pattern):
            return reason
    for counts in re.findall(r"\{(\d+)(?:,(\d*))?\}", pattern):
        if any(c and int(c) > _RE2_MAX_REPEAT for c in counts):
            return f"a repeat count above RE2's limit of {_RE2_MAX_REPEAT}"
    for name in re.findall(r"\\[pP]\{\^?(\w+)\}", pattern):
        if name not in _RE2_CATEGORIES:
            return f"\\p{{{name}}} is a Java character class, not RE2"
    return None


def for_kubernetes(pattern: str) -> tuple[str | None, str | None]:
    """``(kubernetes_pattern, None)`` or ``(None, reason it was dropped)``."""
    if pattern in TRIVIAL:
        return None, "accepts any string"
    reason = unsupported(pattern)
    if reason:
        return None, reason
    return f"^(?:{pattern})$", None
