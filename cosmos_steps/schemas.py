"""JSON Schema checks of config.yaml and run specs, with messages a user can act on.

Every problem is reported as `<file>: <dotted.path>: <what is wrong>`, all at once.
"""

from __future__ import annotations

import copy
import functools
import re
import sys
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

from cosmos_steps import PROJECT_DIR

SCHEMA_DIR = PROJECT_DIR / "schemas"
SCHEMA_FILES = ("config.schema.yaml", "spec.schema.yaml")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def report(problems: list[str], consequence: str) -> None:
    """Print every problem on stderr, then how many there were and what that means."""
    for problem in problems:
        print(problem, file=sys.stderr)
    count = len(problems)
    print(f"{count} problem{'s' * (count != 1)} found; {consequence}.", file=sys.stderr)


class ValidationFailed(Exception):
    """A file does not follow its schema; `problems` lists every message."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@functools.cache
def _registry() -> Registry:
    resources = []
    for name in SCHEMA_FILES:
        contents = yaml.safe_load((SCHEMA_DIR / name).read_text(encoding="utf-8"))
        resources.append((name, Resource.from_contents(contents)))
    return Registry().with_resources(resources)


def schema(name: str) -> dict[str, Any]:
    """The parsed schema file (config.schema.yaml or spec.schema.yaml)."""
    return _registry()[name].contents


def _validator(name: str, fill_defaults: bool) -> jsonschema.protocols.Validator:
    base = jsonschema.Draft202012Validator
    if fill_defaults:
        base = _with_defaults(base)
    # The schema itself as root (not a $ref to it): a $ref into a resource with its own `$schema`
    # switches to jsonschema's stock validator, which would not fill defaults.
    return base(schema(name), registry=_registry())


def _with_defaults(base: type) -> type:
    """A validator that writes `default:` values into the instance as it checks it."""
    check_properties = base.VALIDATORS["properties"]

    def properties(validator, props, instance, schema_):  # noqa: ANN001, ANN202
        if isinstance(instance, dict):
            for key, subschema in props.items():
                if "default" in subschema and key not in instance:
                    instance[key] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, props, instance, schema_)

    return jsonschema.validators.extend(base, {"properties": properties})


def dotted(path: Any) -> str:
    """A JSON path as `a.b[2].c`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _most_relevant(error: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf, the branch error that matches the value's type (not 'is not of type')."""
    while error.context:
        branch = [e for e in error.context if e.validator != "type"] or list(error.context)
        error = jsonschema.exceptions.best_match(branch)
    return error


def explain(error: jsonschema.ValidationError) -> str:
    """One line: `path: message`, phrased for people."""
    error = _most_relevant(error)
    where = dotted(error.absolute_path)
    value = error.instance
    if error.validator == "pattern" and isinstance(value, str):
        bad = _CONTROL_CHARS.search(value)
        if bad:
            code = f"U+{ord(bad.group()):04X}"
            return f"{where}: contains a control character ({code}) at position {bad.start()}"
        expected = error.schema.get("description") or error.validator_value
        return f"{where}: {value!r} is not allowed here (expected {expected})"
    if error.validator == "maxLength" and isinstance(value, str):
        return f"{where}: is {len(value)} characters long; the maximum is {error.validator_value}"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {}))) or "none"
        return f"{where}: {error.message} (allowed: {allowed})"
    return f"{where}: {error.message}"


def problems(instance: Any, schema_name: str, *, fill_defaults: bool = False) -> list[str]:
    """Every schema violation of `instance` as `path: message` lines (sorted by path)."""
    validator = _validator(schema_name, fill_defaults)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    return [explain(error) for error in errors]


def validate(instance: Any, schema_name: str, where: str, *, fill_defaults: bool = False) -> None:
    """Raise ValidationFailed with every problem prefixed by `where` (a file name)."""
    found = problems(instance, schema_name, fill_defaults=fill_defaults)
    if found:
        raise ValidationFailed([f"{where}: {line}" for line in found])


def subschema_problems(value: Any, pointer: str) -> list[str]:
    """Check one value against a part of spec.schema.yaml given by a JSON pointer."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": f"spec.schema.yaml#{pointer}"}, registry=_registry()
    )
    return [explain(error).split(": ", 1)[-1] for error in validator.iter_errors(value)]
