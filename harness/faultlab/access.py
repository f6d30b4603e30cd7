"""Typed access to what a guest program or QEMU reported (decoded JSON, QOM values).

Every accessor returns the field with the type asked for, or raises StepFailed naming where
the field was looked for, the key, the type expected and what was there instead. A scenario
body that reads its program's output through these therefore fails its steps with a message
that says what the output lacked, instead of stopping on a KeyError or TypeError.

Integers are JSON integers: a JSON boolean is not one (Python's bool is an int subclass), and
neither is a float. `number_field` takes an integer or a float.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from faultlab.scenario import StepFailed

if TYPE_CHECKING:
    from faultlab.scenario import ScenarioContext

T = TypeVar("T")

_SHOWN = 80  # characters of an unexpected value quoted in a message
_KEYS_SHOWN = 12  # keys of an object listed when a field is missing

_KINDS: dict[type, str] = {
    int: "an integer",
    float: "a number",
    str: "a string",
    bool: "a boolean",
    list: "a list",
    dict: "an object",
}


def kind_name(kind: type) -> str:
    return _KINDS.get(kind, f"a {kind.__name__}")


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def describe(value: Any) -> str:
    """What was there: the value (shortened) and its JSON type."""
    text = repr(value)
    if len(text) > _SHOWN:
        text = text[: _SHOWN - 3] + "..."
    return f"{text} ({_json_type(value)})"


def is_kind(value: Any, kind: type) -> bool:
    """isinstance, except that a bool is not an int or a number and an int is a number."""
    if kind in (int, float) and isinstance(value, bool):
        return False
    if kind is float:
        return isinstance(value, int | float)
    if kind is dict:
        return isinstance(value, Mapping)
    return isinstance(value, kind)


def field(obj: Any, key: str, kind: type[T], where: str = "output") -> T:
    """obj[key], which must be of `kind`; `where` names obj in the message (e.g. "run")."""
    if not isinstance(obj, Mapping):
        raise StepFailed(f"{where} is {describe(obj)}, not an object with the field {key!r}")
    if key not in obj:
        keys = sorted(str(k) for k in obj)
        listed = ", ".join(keys[:_KEYS_SHOWN]) + (", ..." if len(keys) > _KEYS_SHOWN else "")
        raise StepFailed(
            f"{where} has no field {key!r} (expected {kind_name(kind)}; "
            f"it has: {listed or 'no fields'})"
        )
    value = obj[key]
    if not is_kind(value, kind):
        raise StepFailed(f"{where}.{key} is {describe(value)}, expected {kind_name(kind)}")
    result: T = value
    return result


def int_field(obj: Any, key: str, where: str = "output") -> int:
    return field(obj, key, int, where)


def int_fields(obj: Any, where: str, *keys: str) -> tuple[int, ...]:
    """Several integer fields of one object, in the order of `keys`."""
    return tuple(int_field(obj, key, where) for key in keys)


def number_field(obj: Any, key: str, where: str = "output") -> float:
    """An integer or a float, returned as it is (3 stays 3)."""
    return field(obj, key, float, where)


def str_field(obj: Any, key: str, where: str = "output") -> str:
    return field(obj, key, str, where)


def bool_field(obj: Any, key: str, where: str = "output") -> bool:
    return field(obj, key, bool, where)


def dict_field(obj: Any, key: str, where: str = "output") -> dict[str, Any]:
    value: dict[str, Any] = field(obj, key, dict, where)
    return value


def list_field(obj: Any, key: str, where: str = "output", of: type | None = None) -> list[Any]:
    """obj[key] as a list; with `of`, every item must be of that kind too."""
    value: list[Any] = field(obj, key, list, where)
    if of is not None:
        for i, item in enumerate(value):
            if not is_kind(item, of):
                raise StepFailed(
                    f"{where}.{key}[{i}] is {describe(item)}, expected {kind_name(of)}"
                )
    return value


def dicts(items: list[Any], where: str) -> list[dict[str, Any]]:
    """Every item of a list as an object (`where` names the list: "procs")."""
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise StepFailed(f"{where}[{i}] is {describe(item)}, expected an object")
    return items


def as_int(value: Any, what: str) -> int:
    """A value that must be an integer (a QOM property, say); `what` names it."""
    if not is_kind(value, int):
        raise StepFailed(f"{what} is {describe(value)}, expected an integer")
    result: int = value
    return result


def qom_int(ctx: ScenarioContext, path: str, prop: str) -> int:
    """An integer QOM property (a device's counter or knob)."""
    return as_int(ctx.qom_get(path, prop), f"qom-get {path} {prop}")


def qom_ints(ctx: ScenarioContext, path: str, props: Iterable[str]) -> dict[str, int]:
    """Several integer QOM properties of one object, by name."""
    return {prop: qom_int(ctx, path, prop) for prop in props}
