"""Argo's resource-template conditions, evaluated the way Argo's executor does.

Argo (``workflow/executor/resource.go``) parses ``successCondition`` and ``failureCondition``
with Kubernetes' label-selector parser (``labels.ParseToRequirements``) and matches each
requirement against the resource's JSON through a ``labels.Labels`` whose ``Has``/``Get`` are
gjson lookups of the key as a path. Failure requirements are checked first and *any* match
fails the step; the step succeeds when *all* success requirements match; otherwise Argo
polls again. This module re-implements exactly that much:

* the selector grammar: ``key``, ``!key``, ``key = v``, ``key == v``, ``key != v``,
  ``key in (a,b)``, ``key notin (a,b)``, ``key > n``, ``key < n``, comma-separated;
  keys must be qualified names and values label values (so no spaces, at most 63 characters);
* ``Requirement.Matches``: ``=``/``==``/``in`` need the key present; ``!=``/``notin`` match a
  missing key; ``>``/``<`` compare integers and are false for a non-integer;
* gjson's plain dotted paths (``status.phase``, ``a.0.b``, ``\\.`` escapes) and its
  ``Result.String()``; wildcards, queries and modifiers raise, rather than being guessed at.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

OPERATORS = ("!=", "==", "=", "in", "notin", ">", "<")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_SPECIAL = "!=,()<>"


class SelectorError(ValueError):
    """The condition would not parse in Argo either."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: Literal["exists", "!", "=", "==", "!=", "in", "notin", ">", "<"]
    values: frozenset[str] = frozenset()

    def matches(self, document: Any) -> bool:
        present, value = gjson_get(document, self.key)
        match self.operator:
            case "exists":
                return present
            case "!":
                return not present
            case "=" | "==" | "in":
                return present and value in self.values
            case "!=" | "notin":
                return not present or value not in self.values
            case ">" | "<":
                if not present:
                    return False
                try:
                    number = int(value)
                except ValueError:
                    return False
                (limit,) = (int(v) for v in self.values)
                return number > limit if self.operator == ">" else number < limit


def _tokens(selector: str) -> Iterator[str]:
    i = 0
    while i < len(selector):
        char = selector[i]
        if char.isspace():
            i += 1
        elif selector[i : i + 2] in ("!=", "=="):
            yield selector[i : i + 2]
            i += 2
        elif char in _SPECIAL:
            yield char
            i += 1
        else:
            start = i
            while i < len(selector) and not selector[i].isspace() and selector[i] not in _SPECIAL:
                i += 1
            yield selector[start:i]


def _check_key(key: str) -> str:
    prefix, _, name = key.rpartition("/")
    if "/" in key and not (prefix and _DNS_SUBDOMAIN.fullmatch(prefix) and len(prefix) <= 253):
        raise SelectorError(f"invalid label key {key!r}")
    if not (_QUALIFIED_NAME.fullmatch(name) and len(name) <= 63):
        raise SelectorError(f"invalid label key {key!r}")
    return key


def _check_value(value: str) -> str:
    if not (_LABEL_VALUE.fullmatch(value) and len(value) <= 63):
        raise SelectorError(f"invalid label value {value!r}")
    return value


def parse(selector: str) -> list[Requirement]:
    """``labels.ParseToRequirements``: the requirements, or :class:`SelectorError`."""
    tokens = list(_tokens(selector))
    requirements: list[Requirement] = []
    i = 0

    def take() -> str:
        nonlocal i
        if i >= len(tokens):
            raise SelectorError(f"unexpected end of {selector!r}")
        i += 1
        return tokens[i - 1]

    while i < len(tokens):
        token = take()
        if token == "!":
            requirements.append(Requirement(_check_key(take()), "!"))
        else:
            key = _check_key(token)
            if i == len(tokens) or tokens[i] == ",":
                requirements.append(Requirement(key, "exists"))
            else:
                operator = take()
                if operator in ("in", "notin"):
                    if take() != "(":
                        raise SelectorError(f"expected '(' after {operator} in {selector!r}")
                    values: list[str] = []
                    while (token := take()) != ")":
                        if token != ",":
                            values.append(_check_value(token))
                    if not values:
                        raise SelectorError(f"{operator} needs values in {selector!r}")
                    requirements.append(Requirement(key, operator, frozenset(values)))  # type: ignore[arg-type]
                elif operator in ("=", "==", "!=", ">", "<"):
                    value = _check_value(take())
                    if operator in (">", "<") and not re.fullmatch(r"-?[0-9]+", value):
                        raise SelectorError(f"{operator} needs an integer in {selector!r}")
                    requirements.append(Requirement(key, operator, frozenset([value])))  # type: ignore[arg-type]
                else:
                    raise SelectorError(f"unknown operator {operator!r} in {selector!r}")
        if i < len(tokens) and take() != ",":
            raise SelectorError(f"expected ',' or end of string in {selector!r}")
    return requirements


def _path(path: str) -> list[str]:
    if any(char in path for char in "*?#|@"):
        raise NotImplementedError(f"gjson path features beyond plain keys: {path!r}")
    parts, current, escaped = [], "", False
    for char in path:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\":
            escaped = True
        elif char == ".":
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def gjson_get(document: Any, path: str) -> tuple[bool, str]:
    """gjson's ``Get(json, path)``: (``Exists()``, ``String()``) for a plain dotted path."""
    node = document
    for part in _path(path):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False, ""
    if node is None:
        return True, ""  # a JSON null exists, and its String() is empty
    if isinstance(node, bool):
        return True, "true" if node else "false"
    if isinstance(node, str):
        return True, node
    if isinstance(node, int | float):
        return True, json.dumps(node)
    return True, json.dumps(node, separators=(",", ":"))


Verdict = Literal["Succeeded", "Failed", "Running"]


def evaluate(
    document: Any, success: Sequence[Requirement], failure: Sequence[Requirement]
) -> Verdict:
    """Argo's ``matchConditions``: any failure requirement fails; all success ones succeed."""
    if any(requirement.matches(document) for requirement in failure):
        return "Failed"
    if all(requirement.matches(document) for requirement in success):
        return "Succeeded"
    return "Running"
