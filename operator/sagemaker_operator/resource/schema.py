"""botocore shapes -> OpenAPI v3 structural schemas for the CRD.

One walk serves both halves of the resource:

- ``strict=True`` (spec): everything the model says and Kubernetes can check at admission:
  types, ``required``, ``enum``, ``minLength``/``maxLength``, ``minimum``/``maximum``,
  ``minItems``/``maxItems``, ``minProperties``/``maxProperties`` and RE2-compatible patterns
  (see ``patterns``).
- ``strict=False`` (status): types and structure only. The operator copies what SageMaker
  says; an enum value or a length AWS adds later must not make the API server refuse a status
  patch, so status carries no constraints.

Kubernetes schemas have no ``$ref``, so a shape used in several places (``S3Uri``, ``KmsKeyId``,
``VpcConfig``...) is expanded at each use with the documentation of that use. A shape that
contains itself cannot be expanded; the walk cuts it with ``x-kubernetes-preserve-unknown-fields``
and reports it in ``Walk.recursive`` (``CreateTrainingJob`` has none, and a test holds it to
that).
"""

import dataclasses
from typing import Any

from sagemaker_operator.resource import model, naming, patterns, text

Schema = dict[str, Any]

_INT_FORMATS = {"integer": "int32", "long": "int64"}


# list and map shapes: (JSON type, child shape attribute, schema key, path step, min, max keyword)
_CONTAINERS = {
    "list": ("array", "member", "items", "[]", "minItems", "maxItems"),
    "map": ("object", "value", "additionalProperties", "{}", "minProperties", "maxProperties"),
}


@dataclasses.dataclass
class Walk:
    """One generation pass: options in, facts about what could not be expressed out."""

    strict: bool = True
    descriptions: bool = True
    recursive: list[str] = dataclasses.field(default_factory=list)
    # shape name -> (botocore pattern, why it is not in the schema)
    dropped_patterns: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def schema(self, shape: model.Shape, documentation: str | None = None) -> Schema:
        """The schema of ``shape``; ``documentation`` overrides the shape's own."""
        return self._walk(shape, documentation, (), ())

    def _walk(
        self,
        shape: model.Shape,
        documentation: str | None,
        stack: tuple[str, ...],
        path: tuple[str, ...],
    ) -> Schema:
        out: Schema = {}
        description = text.plain(documentation if documentation is not None else "")
        if self.descriptions and description:
            out["description"] = description
        if shape.name in stack:
            self.recursive.append(".".join(path))
            out.update(type="object", **{"x-kubernetes-preserve-unknown-fields": True})
            return out
        inner = (*stack, shape.name)
        meta = shape.metadata
        kind = shape.type_name
        if kind == "structure":
            out["type"] = "object"
            fields = naming.members_by_field(shape)
            out["properties"] = {
                field: self._walk(
                    shape.members[member],
                    shape.members[member].documentation,
                    inner,
                    (*path, field),
                )
                for field, member in fields.items()
            }
            required = [naming.field_name(m) for m in shape.required_members]
            if self.strict and required:
                out["required"] = required
        elif kind in _CONTAINERS:
            json_type, child_of, key, step, low, high = _CONTAINERS[kind]
            child = getattr(shape, child_of)
            out["type"] = json_type
            out[key] = self._walk(child, child.documentation, inner, (*path, step))
            if self.strict:
                _bounds(out, meta, low, high)
                rules = self._key_rules(shape.key) if kind == "map" else []
                if rules:
                    out["x-kubernetes-validations"] = rules
        elif kind == "string":
            out["type"] = "string"
            if self.strict:
                if "enum" in meta:
                    out["enum"] = list(meta["enum"])
                _bounds(out, meta, "minLength", "maxLength")
                if "pattern" in meta:
                    kept, reason = patterns.for_kubernetes(meta["pattern"])
                    if kept:
                        out["pattern"] = kept
                    elif reason and reason != "accepts any string":
                        self.dropped_patterns[shape.name] = (meta["pattern"], reason)
        elif kind in _INT_FORMATS:
            out.update(type="integer", format=_INT_FORMATS[kind])
            if self.strict:
                _bounds(out, meta, "minimum", "maximum", numeric=True)
        elif kind in ("float", "double"):
            out.update(type="number", format=kind)
            if self.strict:
                _bounds(out, meta, "minimum", "maximum", numeric=True)
        elif kind == "boolean":
            out["type"] = "boolean"
        elif kind == "timestamp":
            out.update(type="string", format="date-time")
        elif kind == "blob":
            out.update(type="string", format="byte")
        else:  # pragma: no cover - a new botocore type must be thought about, not guessed
            raise NotImplementedError(f"{shape.name}: botocore type {kind}")
        return out

    def _key_rules(self, key: model.Shape) -> list[dict[str, str]]:
        """CEL rules for a map's keys: OpenAPI has no way to constrain property names."""
        meta = key.metadata
        checks: list[str] = []
        said: list[str] = []
        if meta.get("min"):
            checks.append(f"size(k) >= {meta['min']}")
            said.append(f"at least {meta['min']} characters")
        if "max" in meta:
            checks.append(f"size(k) <= {meta['max']}")
            said.append(f"at most {meta['max']} characters")
        if "pattern" in meta:
            kept, reason = patterns.for_kubernetes(meta["pattern"])
            if kept and "'" not in kept:
                checks.append(f"k.matches(r'{kept}')")
                said.append(f"match {kept}")
            elif reason and reason != "accepts any string":
                self.dropped_patterns[key.name] = (meta["pattern"], reason)
        if not checks:
            return []
        return [
            {
                "rule": f"self.all(k, {' && '.join(checks)})",
                "message": f"keys must have {' and '.join(said)}".replace("have match", "match"),
            }
        ]


def _bounds(
    out: Schema, meta: dict[str, Any], low: str, high: str, *, numeric: bool = False
) -> None:
    # NB: a minimum of 0 on a length or a count says nothing, so it is left out; on a number
    # it refuses negatives, so it stays.
    if "min" in meta and (numeric or meta["min"]):
        out[low] = meta["min"]
    if "max" in meta:
        out[high] = meta["max"]
