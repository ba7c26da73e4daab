"""RFC 8785 (JSON Canonicalization Scheme) against the RFC's own examples.

The expected bytes are copied from the RFC text (sections 3.2.2, 3.2.3 and
appendix B), not produced by our code, so an archivist's independent JCS
implementation and ours must agree on them.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ceremony.canonical import NotCanonicalizable, canonicalize, format_number


def _double(bits: str) -> float:
    value: float = struct.unpack(">d", bytes.fromhex(bits))[0]
    return value


# RFC 8785 appendix B: IEEE 754 bit patterns and their ES6 Number-to-String form.
APPENDIX_B = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),  # minus zero
    ("0000000000000001", "5e-324"),  # min positive subnormal
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),  # max double
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),  # 2^53
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),  # 2^68
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "expected"), APPENDIX_B, ids=[b for b, _ in APPENDIX_B])
def test_appendix_b_numbers(bits: str, expected: str) -> None:
    value = _double(bits)
    assert format_number(value) == expected
    assert canonicalize([value]) == f"[{expected}]".encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1e21, "1e+21"),  # the first power of ten ES6 writes with an exponent
        (1e20, "100000000000000000000"),
        (1e-7, "1e-7"),  # the first negative power written with an exponent
        (1e-6, "0.000001"),
        (-0.0, "0"),
        (4.50, "4.5"),
        (2e-3, "0.002"),
        (1e30, "1e+30"),
        (1e-27, "1e-27"),
        (123.456e5, "12345600"),
        (0.1 + 0.2, "0.30000000000000004"),
        (-1.5e-9, "-1.5e-9"),
    ],
)
def test_es6_number_forms(value: float, expected: str) -> None:
    assert format_number(value) == expected


@pytest.mark.parametrize(
    "bad", [math.nan, math.inf, -math.inf, _double("7fffffffffffffff"), _double("7ff0000000000000")]
)
def test_nan_and_infinity_are_refused(bad: float) -> None:
    with pytest.raises(NotCanonicalizable):
        canonicalize({"n": bad})


@pytest.mark.parametrize("big", [2**53, 2**53 + 1, -(2**53), 2**64, -(2**70)])
def test_integers_outside_the_i_json_range_are_refused(big: int) -> None:
    with pytest.raises(NotCanonicalizable):
        canonicalize({"n": big})


@pytest.mark.parametrize("edge", [2**53 - 1, -(2**53 - 1), 0, -1])
def test_safe_integers_are_written_plainly(edge: int) -> None:
    assert canonicalize(edge) == str(edge).encode()


def test_rfc_section_3_2_2_example() -> None:
    """The RFC's worked example, parsed from its JSON text and canonicalised."""
    source = (
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonicalize(json.loads(source)) == expected.encode("utf-8")


def test_rfc_section_3_2_3_key_order_by_utf16_code_units() -> None:
    """U+1F600 is stored as the surrogates D83D DE00, so it sorts *before* U+FB33."""
    value = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    out = canonicalize(value).decode("utf-8")
    assert [*json.loads(out)] == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]
    # Code-point order would have put the emoji last; make sure that is not what we do.
    assert sorted(value) != [*json.loads(out)]
    assert out.startswith('{"\\r":"Carriage Return","1":"One","\u0080":"Control"')


def test_nested_objects_are_sorted_at_every_level() -> None:
    value = {"b": [{"z": 1, "a": {"y": True, "x": None}}], "a": {}}
    assert canonicalize(value) == b'{"a":{},"b":[{"a":{"x":null,"y":true},"z":1}]}'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\u0000", "\\u0000"),
        ("\u0001", "\\u0001"),
        ("\b", "\\b"),
        ("\t", "\\t"),
        ("\n", "\\n"),
        ("\u000b", "\\u000b"),
        ("\f", "\\f"),
        ("\r", "\\r"),
        ("\u001f", "\\u001f"),
        ('"', '\\"'),
        ("\\", "\\\\"),
        ("/", "/"),  # not escaped
        ("\u007f", "\u007f"),  # DEL is not a C0 control: written as is
        ("\u2028", "\u2028"),  # nor are the JavaScript line separators
        ("강원 南京 \U0001f600", "강원 南京 \U0001f600"),  # non-ASCII stays UTF-8, never \\u-escaped
    ],
)
def test_string_escaping(text: str, expected: str) -> None:
    assert canonicalize(text) == f'"{expected}"'.encode()


def test_whitespace_and_literals() -> None:
    assert canonicalize({"a": [1, True, False, None, "x"], "b": []}) == b'{"a":[1,true,false,null,"x"],"b":[]}'


@pytest.mark.parametrize(
    "bad",
    [
        {1: "integer key"},
        {"s": "\ud800"},  # a lone surrogate is not I-JSON
        {"\udc00": 1},
        {"b": b"bytes"},
        {"set": {1, 2}},
    ],
    ids=["int-key", "lone-surrogate", "surrogate-key", "bytes", "set"],
)
def test_values_with_no_json_form_are_refused(bad: dict[Any, Any]) -> None:
    with pytest.raises(NotCanonicalizable):
        canonicalize(bad)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_finite_double_round_trips(value: float) -> None:
    text = format_number(value)
    assert float(text) == value
    assert text == format_number(float(text))  # shortest form is a fixed point


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53 - 1), 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(st.characters(exclude_categories=["Cs"]), max_size=4), children, max_size=4)
    ),
    max_leaves=20,
)


def _number(text: str) -> int | float:
    """JCS numbers are doubles: an integral one beyond 2^53 came from a float, so read it as one."""
    whole = int(text)
    return whole if abs(whole) < 2**53 else float(whole)


@given(JSON_VALUES)
def test_canonical_bytes_parse_back_and_are_a_fixed_point(value: Any) -> None:
    out = canonicalize(value)
    parsed = json.loads(out, parse_int=_number)
    assert canonicalize(parsed) == out
    assert b"\n" not in out.replace(b"\\n", b"")  # no insignificant whitespace lines
