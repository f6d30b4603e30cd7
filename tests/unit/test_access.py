"""The typed accessors: a missing or mistyped field is a failed step that says what was there."""

from __future__ import annotations

from typing import Any

import pytest

from faultlab import access
from faultlab.scenario import StepFailed

DATA: dict[str, Any] = {
    "rc": 0,
    "name": "src-absent",
    "ok": True,
    "ms": 1.5,
    "flags": ["TIMED_OUT", "ABORTED"],
    "run": {"stalls": 3},
    "procs": [{"pid": 1}, {"pid": 2}],
}


def test_fields_of_the_right_type() -> None:
    assert access.int_field(DATA, "rc") == 0
    assert access.str_field(DATA, "name") == "src-absent"
    assert access.bool_field(DATA, "ok") is True
    assert access.number_field(DATA, "ms") == 1.5
    assert access.number_field(DATA, "rc") == 0.0  # an integer is a number
    assert access.list_field(DATA, "flags", of=str) == ["TIMED_OUT", "ABORTED"]
    assert access.dict_field(DATA, "run") == {"stalls": 3}
    assert access.field(DATA, "run", dict)["stalls"] == 3
    assert access.dicts(access.list_field(DATA, "procs"), "procs")[1] == {"pid": 2}


def test_missing_field_names_key_type_and_what_is_there() -> None:
    with pytest.raises(StepFailed) as err:
        access.int_field(DATA["run"], "bytes_done", "run")
    assert str(err.value) == ("run has no field 'bytes_done' (expected an integer; it has: stalls)")
    with pytest.raises(StepFailed, match=r"output has no field 'x' .*it has: no fields"):
        access.str_field({}, "x")


@pytest.mark.parametrize(
    ("key", "getter", "message"),
    [
        ("name", access.int_field, "output.name is 'src-absent' (a string), expected an integer"),
        ("ok", access.int_field, "output.ok is True (a boolean), expected an integer"),
        ("ms", access.int_field, "output.ms is 1.5 (a float), expected an integer"),
        ("ok", access.number_field, "output.ok is True (a boolean), expected a number"),
        ("rc", access.str_field, "output.rc is 0 (an integer), expected a string"),
        ("rc", access.bool_field, "output.rc is 0 (an integer), expected a boolean"),
        ("run", access.list_field, "output.run is {'stalls': 3} (an object), expected a list"),
        ("flags", access.dict_field, "expected an object"),
    ],
)
def test_wrong_type(key: str, getter: Any, message: str) -> None:
    with pytest.raises(StepFailed) as err:
        getter(DATA, key)
    assert message in str(err.value)


def test_not_an_object_lists_and_items() -> None:
    with pytest.raises(StepFailed, match=r"cases\[2\] is None \(null\), not an object"):
        access.int_field(None, "cr0", "cases[2]")
    with pytest.raises(StepFailed, match=r"output.procs\[0\] is \{'pid': 1\} .*expected a str"):
        access.list_field(DATA, "procs", of=str)
    with pytest.raises(StepFailed, match=r"procs\[1\] is 7 \(an integer\), expected an object"):
        access.dicts([{}, 7], "procs")


def test_long_values_are_shortened() -> None:
    with pytest.raises(StepFailed) as err:
        access.int_field({"k": "x" * 500}, "k")
    assert len(str(err.value)) < 160 and "..." in str(err.value)


def test_as_int_for_qom_values() -> None:
    assert access.as_int(5, "qom-get /machine/x faults") == 5
    with pytest.raises(StepFailed, match=r"qom-get /machine/x faults is None \(null\)"):
        access.as_int(None, "qom-get /machine/x faults")
    with pytest.raises(StepFailed, match="expected an integer"):
        access.as_int(False, "qom-get /machine/x faults")
