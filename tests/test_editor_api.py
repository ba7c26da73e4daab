"""The definition API's refusals for the editor (issue 12): each problem with its code, and nothing changed.

Real app through aiohttp's test client, real SQLite files in tmp_path.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from ceremony.events import Role
from tests.helpers import bearer
from web.app import create_app
from web.appkeys import SERVICE
from web.demo.definition import DEMO_DEFINITION, demo_definition
from web.settings import Settings

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def _blank(value: Any) -> Any:
    """The same shape with every text and id emptied, as the editor's untouched form sends it."""
    if isinstance(value, dict):
        return {
            k: v if k in ("kind", "minutes", "duration_minutes", "prevailing_language") else _blank(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return "" if isinstance(value, str) else value


async def test_refusals_carry_codes_and_change_nothing(aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data", public_url="https://ceremony.test", create_demo=False))
    client = await aiohttp_client(app)
    service = app[SERVICE]
    state = await service.create(demo_definition(), "operator")
    operator = bearer(await service.issue_operator_link())
    host = bearer((await service.issue_link(state.id, Role.HOST, "test")).token)
    before = (len(service.ceremonies()), service.get(state.id).seq)

    # An empty form: 400 with the old shape (`error`, an English `reason`) and a code for each field.
    r = await client.post("/api/ceremonies", json=_blank(DEMO_DEFINITION), headers=operator)
    body = await r.json()
    assert r.status == 400
    assert body["error"] == "bad_request" and body["reason"] == "the ceremony definition is invalid"
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["parties[0].name.ko"] == {
        "field": "parties[0].name.ko",
        "code": "required",
        "reason": "must not be empty",
    }
    assert fields["schedule.start"]["code"] == "required"
    assert fields["signatories[0].party"]["code"] == "required"
    assert {f["code"] for f in body["fields"]} == {"required"}

    # A revision with a too-long title, an unknown zone and a run of show longer than the ceremony.
    bad = copy.deepcopy(DEMO_DEFINITION)
    bad["title"]["zh"] = "名" * 301
    bad["venues"][1]["timezone"] = "Asia/Nanjing"
    bad["schedule"]["duration_minutes"] = 30
    r = await client.put(f"/api/ceremonies/{state.id}/definition", json=bad, headers=host)
    body = await r.json()
    assert r.status == 400 and body["error"] == "bad_request"
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["title.zh"]["code"] == "too_long" and fields["title.zh"]["max"] == 300
    assert fields["venues[1].timezone"]["code"] == "bad_zone"
    assert fields["schedule.duration_minutes"] | {"reason": ""} == {
        "field": "schedule.duration_minutes",
        "code": "over_time",
        "total": sum(s["minutes"] for s in DEMO_DEFINITION["run_of_show"]),
        "duration": 30,
        "reason": "",
    }
    assert all(isinstance(f["reason"], str) and f["reason"] for f in body["fields"])

    # Nothing changed: no ceremony made, no event logged, the definition as it was.
    assert (len(service.ceremonies()), service.get(state.id).seq) == before
    assert service.get(state.id).definition == demo_definition()
    r = await client.get(f"/api/ceremonies/{state.id}/definition", headers=host)
    assert await r.json() == DEMO_DEFINITION


def test_every_code_and_field_has_words_in_the_catalogue() -> None:
    """The editor says each problem from js.def.<code> and js.def.field.<path>: none may be missing."""
    import ceremony.definition as definition
    from web.messages import MESSAGES

    source = Path(definition.__file__).read_text(encoding="utf-8")
    sent = set(re.findall(r"\badd\(\s*[^,]+,\s*\"(\w+)\"", source))
    assert {"required", "too_long", "bad_zone", "over_time", "unknown_ref"} <= sent
    assert [code for code in sorted(sent) if f"js.def.{code}" not in MESSAGES] == []
    fields = [*definition.TEXT_LIMITS, *definition.COUNT_LIMITS, *definition.NUMBER_LIMITS]
    fields += [f"{list_}.{name}" for list_ in ("venues", "parties", "signatories", "run_of_show") for name in ("id",)]
    fields += ["schedule.start", "venues.country", "venues.timezone", "parties.country"]
    fields += ["signatories.party", "signatories.venue", "run_of_show.kind", "document.prevailing_language"]
    assert [f for f in fields if f"js.def.field.{f}" not in MESSAGES] == []
