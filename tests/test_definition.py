"""Ceremony definitions: the demo round-trips, and every bad field is named by its path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from ceremony.canonical import canonicalize
from ceremony.definition import definition_to_json, parse_definition
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
