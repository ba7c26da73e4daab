"""Ceremony definitions: the demo round-trips, and every bad field is named by its path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ceremony.canonical import canonicalize
from ceremony.definition import definition_limits, definition_to_json, generic_path, parse_definition
from ceremony.errors import InvalidDefinition
from ceremony.model import SegmentKind
from web.demo.definition import demo_definition


def demo() -> dict[str, Any]:
    return definition_to_json(demo_definition())


def problems(value: object) -> dict[str, str]:
    """The (path -> reason) pairs parse_definition refuses `value` with."""
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(value)
    errors = caught.value.errors
    assert errors, "InvalidDefinition must list at least one problem"
    return dict(errors)


def test_the_demo_round_trips() -> None:
    d = demo_definition()
    assert parse_definition(definition_to_json(d)) == d
    # ... and through JSON text, as it travels in the log and the API.
    assert parse_definition(json.loads(json.dumps(definition_to_json(d)))) == d
    assert parse_definition(json.loads(canonicalize(definition_to_json(d)))) == d


def test_the_demo_is_the_reported_event() -> None:
    d = demo_definition()
    assert {v.timezone for v in d.venues} == {"Asia/Seoul", "Asia/Shanghai"}
    assert len(d.parties) == 6
    assert [s.kind for s in d.run_of_show].count(SegmentKind.SIGNING) == 1
    assert d.schedule.start.isoformat() == "2020-05-29T10:20:00+09:00"


def test_to_json_is_plain_json() -> None:
    value = demo()
    assert json.loads(json.dumps(value)) == value


Mutation = Callable[[dict[str, Any]], None]


def _set(path: list[str | int], new: Any) -> Mutation:
    def apply(value: dict[str, Any]) -> None:
        target: Any = value
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = new

    return apply


def _delete(path: list[str | int]) -> Mutation:
    def apply(value: dict[str, Any]) -> None:
        target: Any = value
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return apply


def _duplicate_venue(value: dict[str, Any]) -> None:
    value["venues"][1]["id"] = value["venues"][0]["id"]


def _duplicate_signatory(value: dict[str, Any]) -> None:
    value["signatories"].append(dict(value["signatories"][0]))


def _two_signing_segments(value: dict[str, Any]) -> None:
    value["run_of_show"][0]["kind"] = "signing"


def _no_signing_segment(value: dict[str, Any]) -> None:
    for segment in value["run_of_show"]:
        if segment["kind"] == "signing":
            segment["kind"] = "remarks"


def _orphan_party(value: dict[str, Any]) -> None:
    value["signatories"] = [s for s in value["signatories"] if s["party"] != value["parties"][-1]["id"]]


CASES: list[tuple[str, Mutation, str, str]] = [
    # (case, mutation of the demo JSON, the path that must be named, a word of the reason)
    ("signatory-unknown-party", _set(["signatories", 1, "party"], "nobody"), "signatories[1].party", "no party"),
    ("signatory-unknown-venue", _set(["signatories", 4, "venue"], "tokyo"), "signatories[4].venue", "no venue"),
    ("duplicate-venue-id", _duplicate_venue, "venues[1].id", "duplicate"),
    ("duplicate-signatory-id", _duplicate_signatory, "signatories[6].id", "duplicate"),
    ("missing-language", _delete(["title", "zh"]), "title.zh", "string"),
    ("empty-language", _set(["document", "articles", 2, "body", "ko"], "  "), "document.articles[2].body.ko", "empty"),
    ("unknown-language", _set(["parties", 0, "name", "ja"], "江原道"), "parties[0].name.ja", "unknown language"),
    ("bad-time-zone", _set(["venues", 1, "timezone"], "Asia/Nanjing"), "venues[1].timezone", "IANA"),
    ("path-as-time-zone", _set(["venues", 0, "timezone"], "../../etc/passwd"), "venues[0].timezone", "IANA"),
    ("two-signing-segments", _two_signing_segments, "run_of_show", "exactly one"),
    ("no-signing-segment", _no_signing_segment, "run_of_show", "exactly one"),
    ("party-without-signatory", _orphan_party, "parties[5]", "no signatory"),
    ("naive-start", _set(["schedule", "start"], "2020-05-29T10:20:00"), "schedule.start", "offset"),
    ("bad-start", _set(["schedule", "start"], "next Friday"), "schedule.start", "ISO 8601"),
    ("bad-country", _set(["venues", 0, "country"], "Korea"), "venues[0].country", "ISO 3166"),
    ("bad-id", _set(["parties", 2, "id"], "Gangwon Cosmetics"), "parties[2].id", "a-z"),
    ("bad-kind", _set(["run_of_show", 1, "kind"], "banquet"), "run_of_show[1].kind", "one of"),
    ("bad-minutes", _set(["run_of_show", 0, "minutes"], 0), "run_of_show[0].minutes", "whole number"),
    ("bool-minutes", _set(["run_of_show", 0, "minutes"], True), "run_of_show[0].minutes", "whole number"),
    ("bad-prevailing", _set(["document", "prevailing_language"], "fr"), "document.prevailing_language", "ko, zh"),
    ("no-articles", _set(["document", "articles"], []), "document.articles", "entries"),
    ("unknown-field", _set(["colour"], "red"), "colour", "unknown field"),
    ("unknown-nested-field", _set(["venues", 0, "capacity"], 300), "venues[0].capacity", "unknown field"),
    ("one-party", _set(["parties"], []), "parties", "entries"),
    ("venues-not-a-list", _set(["venues"], {"id": "x"}), "venues", "list"),
]


@pytest.mark.parametrize(("mutate", "path", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_bad_field_is_named(mutate: Mutation, path: str, reason: str) -> None:
    value = demo()
    mutate(value)
    found = problems(value)
    assert path in found, f"expected a problem at {path}, got {found}"
    assert reason in found[path]


def test_every_problem_is_reported_at_once() -> None:
    value = demo()
    _set(["signatories", 0, "party"], "nobody")(value)
    _duplicate_venue(value)
    _delete(["title", "en"])(value)
    _set(["venues", 0, "timezone"], "Mars/Olympus_Mons")(value)
    _two_signing_segments(value)
    found = problems(value)
    assert {"signatories[0].party", "venues[1].id", "title.en", "venues[0].timezone", "run_of_show"} <= set(found)


def test_the_message_names_the_paths() -> None:
    value = demo()
    _set(["signatories", 0, "party"], "nobody")(value)
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(value)
    assert "signatories[0].party: no party with id 'nobody'" in str(caught.value)


@pytest.mark.parametrize("value", [None, [], "a definition", 42])
def test_a_non_object_is_refused_at_the_root(value: object) -> None:
    assert "$" in problems(value)


def test_an_empty_object_names_each_missing_section() -> None:
    found = problems({})
    for path in ("title", "schedule", "venues", "parties", "signatories", "run_of_show", "document"):
        assert path in found, path


# ---- codes for pages: each problem carries a machine code and its parameters (issue 12, the editor) ----


def codes(value: object) -> dict[str, dict[str, str | int]]:
    """path -> the problem parse_definition names there (code, reason, parameters)."""
    with pytest.raises(InvalidDefinition) as caught:
        parse_definition(value)
    problems = caught.value.problems
    assert all(isinstance(p["code"], str) and p["reason"] for p in problems)
    return {str(p["field"]): p for p in problems}


def _text(value: str = "") -> dict[str, str]:
    return {"ko": value, "zh": value, "en": value}


def empty_form() -> dict[str, Any]:
    """What the editor sends for its untouched form: two venues, parties and signatories, three segments."""
    return {
        "title": _text(),
        "schedule": {"start": "", "duration_minutes": 60},
        "venues": [{"id": "", "country": "", "timezone": "", "name": _text(), "city": _text()} for _ in range(2)],
        "parties": [{"id": "", "country": "", "name": _text()} for _ in range(2)],
        "signatories": [{"id": "", "party": "", "venue": "", "name": _text(), "title": _text()} for _ in range(2)],
        "run_of_show": [
            {"id": "", "kind": kind, "minutes": 5, "title": _text()} for kind in ("opening", "signing", "closing")
        ],
        "document": {
            "title": _text(),
            "preamble": _text(),
            "articles": [{"title": _text(), "body": _text()}],
            "closing": _text(),
            "prevailing_language": "en",
            "prevailing_clause": _text(),
        },
    }


def _leaves(value: Any, path: str = "") -> list[str]:
    if isinstance(value, dict):
        return [leaf for key, v in value.items() for leaf in _leaves(v, f"{path}.{key}" if path else key)]
    if isinstance(value, list):
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, f"{path}[{i}]")]
    return [path]


def test_an_empty_form_is_required_field_by_field() -> None:
    form = empty_form()
    found = codes(form)
    blank = {path for path in _leaves(form) if not path.endswith(("duration_minutes", "minutes", "kind", "language"))}
    assert set(found) == blank
    assert {p["code"] for p in found.values()} == {"required"}
    assert {"parties[0].name.ko", "schedule.start", "signatories[1].party", "venues[0].timezone"} <= set(found)


@pytest.mark.parametrize(
    ("path", "limit"),
    [
        (["title", "ko"], 300),
        (["venues", 0, "name", "zh"], 200),
        (["signatories", 2, "title", "en"], 200),
        (["document", "articles", 1, "title", "ko"], 300),
        (["document", "articles", 1, "body", "ko"], 20_000),
    ],
)
def test_too_long_names_its_limit(path: list[str | int], limit: int) -> None:
    value = demo()
    _set(path, "가" * (limit + 1))(value)
    at = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path).lstrip(".")
    assert codes(value)[at] | {"reason": ""} == {"field": at, "code": "too_long", "max": limit, "reason": ""}
    _set(path, "가" * limit)(value)
    parse_definition(value)  # the limit itself is allowed


def test_the_limits_the_page_is_given_are_the_ones_enforced() -> None:
    limits = definition_limits()
    texts = {generic_path(p.rsplit(".", 1)[0]) for p in _leaves(demo()) if p.endswith((".ko", ".zh", ".en"))}
    assert texts == set(limits["text"])
    assert limits["counts"]["parties"] == {"min": 2, "max": 64}
    assert limits["numbers"]["run_of_show.minutes"] == {"min": 1, "max": 600}
    value = demo()
    value["parties"] = value["parties"][:1]
    assert codes(value)["parties"]["code"] == "count"
    assert codes(value)["parties"]["min"] == 2


CODE_CASES: list[tuple[str, Mutation, str, dict[str, str | int]]] = [
    ("bad-zone", _set(["venues", 1, "timezone"], "Asia/Nanjing"), "venues[1].timezone", {"code": "bad_zone"}),
    ("empty-zone", _set(["venues", 1, "timezone"], ""), "venues[1].timezone", {"code": "required"}),
    ("bad-id", _set(["parties", 2, "id"], "Gangwon Cosmetics"), "parties[2].id", {"code": "bad_id", "max": 48}),
    ("bad-country", _set(["venues", 0, "country"], "kr"), "venues[0].country", {"code": "bad_country"}),
    ("minutes", _set(["run_of_show", 0, "minutes"], 0), "run_of_show[0].minutes", {"code": "bad_number", "min": 1}),
    ("unknown-party", _set(["signatories", 1, "party"], "nobody"), "signatories[1].party", {"code": "unknown_ref"}),
    ("duplicate", _duplicate_venue, "venues[1].id", {"code": "duplicate_id", "id": "chuncheon"}),
    ("orphan-party", _orphan_party, "parties[5]", {"code": "no_signatory"}),
    ("two-signings", _two_signing_segments, "run_of_show", {"code": "one_signing", "found": 2}),
    ("naive-start", _set(["schedule", "start"], "2020-05-29T10:20:00"), "schedule.start", {"code": "no_offset"}),
    ("bad-start", _set(["schedule", "start"], "next Friday"), "schedule.start", {"code": "bad_time"}),
    ("no-start", _set(["schedule", "start"], ""), "schedule.start", {"code": "required"}),
    ("bidi", _set(["title", "en"], "MOU\u202e"), "title.en", {"code": "unsafe_character", "char": "U+202E", "at": 4}),
    ("unknown-field", _set(["colour"], "red"), "colour", {"code": "unknown_field", "name": "colour"}),
    ("language", _set(["parties", 0, "name", "ja"], "江原道"), "parties[0].name.ja", {"code": "unknown_language"}),
    ("kind", _set(["run_of_show", 1, "kind"], "banquet"), "run_of_show[1].kind", {"code": "bad_choice"}),
    ("not-a-list", _set(["venues"], {"id": "x"}), "venues", {"code": "wrong_type"}),
]


@pytest.mark.parametrize(("mutate", "path", "expected"), [c[1:] for c in CODE_CASES], ids=[c[0] for c in CODE_CASES])
def test_each_problem_has_its_code(mutate: Mutation, path: str, expected: dict[str, str | int]) -> None:
    value = demo()
    mutate(value)
    found = codes(value)
    assert path in found, f"expected a problem at {path}, got {found}"
    assert found[path].items() >= expected.items()


def test_a_run_of_show_longer_than_the_ceremony_is_refused() -> None:
    """The ceremony would end before its last segment: the scheduled end comes before the run of show's."""
    value = demo()
    total = sum(s["minutes"] for s in value["run_of_show"])
    value["schedule"]["duration_minutes"] = total - 5
    problem = codes(value)["schedule.duration_minutes"]
    assert problem["code"] == "over_time"
    assert (problem["total"], problem["duration"]) == (total, total - 5)
    value["schedule"]["duration_minutes"] = total
    parse_definition(value)
    # A definition the log already holds replays, whatever rule came later.
    value["schedule"]["duration_minutes"] = total - 5
    assert parse_definition(value, logged=True).schedule.duration_minutes == total - 5
