"""A compiled yes/no check for the JSON Schema subset our input schemas use.

`jsonschema` spends ~100 us per VIST annotation; the real SIS train file has ~200k annotations
and ~170k image entries. The validator asks this predicate first and only runs `jsonschema`
(which produces the error message and path) for items the predicate rejects. The predicate
must never accept what `jsonschema` rejects: any keyword outside the supported subset makes
`compile_predicate` raise `UnsupportedSchema`, and callers then use `jsonschema` alone.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

Predicate = Callable[[Any], bool]

# Keywords that never affect validity.
_ANNOTATIONS = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "examples", "default"}
)


class UnsupportedSchema(ValueError):
    """The schema uses a keyword the compiled predicate does not implement."""


def _is_integer(x: Any) -> bool:
    # Same semantics as jsonschema's draft 2020-12 type checker: 1.0 is an integer, True is not.
    if isinstance(x, bool):
        return False
    return isinstance(x, int) or (isinstance(x, float) and x.is_integer())


def _is_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, numbers.Number)


_TYPES: dict[str, Predicate] = {
    "string": lambda x: isinstance(x, str),
    "integer": _is_integer,
    "number": _is_number,
    "object": lambda x: isinstance(x, dict),
    "array": lambda x: isinstance(x, list),
    "boolean": lambda x: isinstance(x, bool),
    "null": lambda x: x is None,
}


def compile_predicate(
    schema: Mapping[str, Any], root: Mapping[str, Any] | None = None
) -> Predicate:
    """Compiles `schema` (resolving local `#/$defs/...` refs against `root`) into a predicate."""
    return _Compiler(root if root is not None else schema).compile(schema)


class _Compiler:
    def __init__(self, root: Mapping[str, Any]):
        self._root = root
        self._refs: dict[str, Predicate] = {}
        self._compiling: dict[str, list[Predicate]] = {}

    def _ref(self, ref: str) -> Predicate:
        if not ref.startswith("#/"):
            raise UnsupportedSchema(f"non-local $ref {ref!r}")
        if ref in self._refs:
            return self._refs[ref]
        if ref in self._compiling:  # a recursive definition: bind late
            slot = self._compiling[ref]
            return lambda x: slot[0](x)
        self._compiling[ref] = slot = []
        node: Any = self._root
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        predicate = self._refs[ref] = self.compile(node)
        slot.append(predicate)
        del self._compiling[ref]
        return predicate

    def compile(self, schema: Any) -> Predicate:
        if schema is True or (isinstance(schema, Mapping) and not schema):
            return _always
        if schema is False:
            return lambda x: False
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(f"schema must be an object, got {type(schema).__name__}")
        rest = {k: v for k, v in schema.items() if k not in _ANNOTATIONS}
        checks: list[Predicate] = []
        if rest.get("type") == "object":
            # The common case, fused into one closure: type, required keys, property values.
            del rest["type"]
            checks.append(self._object(rest.pop("required", ()), rest.pop("properties", {})))
        elif rest.get("type") == "array" and "items" in rest:
            del rest["type"]
            checks.append(self._array(rest.pop("items")))
        checks.extend(self._keyword(keyword, arg) for keyword, arg in rest.items())
        if not checks:
            return _always
        if len(checks) == 1:
            return checks[0]
        first, *others = checks

        def check_all(x: Any) -> bool:
            if not first(x):
                return False
            for check in others:
                if not check(x):
                    return False
            return True

        return check_all

    def _object(self, required: Any, properties: Mapping[str, Any]) -> Predicate:
        keys = tuple(required)
        props = tuple((k, self.compile(v)) for k, v in properties.items())

        def check_object(x: Any) -> bool:
            if type(x) is not dict:
                return False
            for k in keys:
                if k not in x:
                    return False
            for k, check in props:
                if k in x and not check(x[k]):
                    return False
            return True

        return check_object

    def _array(self, items: Any) -> Predicate:
        item = self.compile(items)

        def check_array(x: Any) -> bool:
            if type(x) is not list:
                return False
            for v in x:
                if not item(v):
                    return False
            return True

        return check_array

    def _keyword(self, keyword: str, arg: Any) -> Predicate:
        if keyword == "$ref":
            return self._ref(arg)
        if keyword == "type":
            names = [arg] if isinstance(arg, str) else list(arg)
            tests = [_TYPES[name] for name in names]
            return tests[0] if len(tests) == 1 else (lambda x: any(t(x) for t in tests))
        if keyword == "required":
            return _required(tuple(arg))
        if keyword == "properties":
            props = tuple((k, self.compile(v)) for k, v in arg.items())
            return lambda x: (
                not isinstance(x, dict) or all(check(x[k]) for k, check in props if k in x)
            )
        if keyword == "items":
            item = self.compile(arg)
            return lambda x: not isinstance(x, list) or all(item(v) for v in x)
        if keyword == "minItems":
            return lambda x: not isinstance(x, list) or len(x) >= arg
        if keyword == "maxItems":
            return lambda x: not isinstance(x, list) or len(x) <= arg
        if keyword == "minLength":
            return lambda x: not isinstance(x, str) or len(x) >= arg
        if keyword == "maxLength":
            return lambda x: not isinstance(x, str) or len(x) <= arg
        if keyword == "pattern":
            regex = re.compile(arg)
            return lambda x: not isinstance(x, str) or regex.search(x) is not None
        if keyword == "minimum":
            return lambda x: not _is_number(x) or x >= arg
        if keyword == "maximum":
            return lambda x: not _is_number(x) or x <= arg
        if keyword == "enum":
            if not all(isinstance(v, str) for v in arg):
                # jsonschema's equality distinguishes 1, 1.0 and True; only strings are trivial.
                raise UnsupportedSchema("enum with non-string values")
            allowed = frozenset(arg)
            return lambda x: isinstance(x, str) and x in allowed
        if keyword == "anyOf":
            options = [self.compile(s) for s in arg]
            return lambda x: any(option(x) for option in options)
        raise UnsupportedSchema(f"keyword {keyword!r}")


def _always(x: Any) -> bool:
    return True


def _required(keys: tuple[str, ...]) -> Predicate:
    return lambda x: not isinstance(x, dict) or all(k in x for k in keys)
