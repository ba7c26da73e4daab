"""The ceremony editor in real headless Chromium (issue 12): problems said next to their fields, in the page's
language and in human words; limits shown before anything is sent; placeholders that read as examples.

Against a real `ceremony serve` subprocess; the `browser` fixture also runs axe-core on each state.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.helpers import SHOTS, Server, check_page, new_page

pytestmark = pytest.mark.browser

# A field path as the API names it ("parties[0].name", "title.ko"), which a person should never be shown.
JSON_PATH = re.compile(r"\w\[\d+\]|\.(?:ko|zh|en)\b|\b(?:run_of_show|duration_minutes|signatories|venues)\b")
# Three English words in a row: an English sentence on a Korean or Chinese page.
ENGLISH = re.compile(r"\b[A-Za-z]{2,}(?:[ ,;:]+[A-Za-z]{2,}){2,}\b")

WORDS = {
    "ko": {
        "locale": "ko-KR",
        "create": "서명식 만들기",
        "counter": "0/300자",
        "typed": "6/300자",
        "count": "현재 2개 · 2~64개까지 가능",
        "example": "예: ",
        "party_name": "참여기관 이름을 한국어, 중국어 및 영어로 입력해 주십시오.",
        "party_name_ko": "참여기관 이름을 한국어로 입력해 주십시오.",
        "venue_id": "회의장 식별자를 입력해 주십시오.",
        "party_choice": "서명자의 참여기관을 선택해 주십시오.",
        "bad_id": "참여기관 식별자는 영문 소문자(a–z), 숫자, 하이픈(-)만으로 48자 이내로",
        "bad_zone": "알 수 없는 시간대입니다. 회의장 시간대를 목록에서 선택해 주십시오",
        "bidi": "서명식 이름(영어)에 보이지 않는 제어 문자나 방향 지정 문자(U+202E, 4번째 글자)가 있습니다.",
        "summary": "저장하기 전에 다음",
    },
    "zh": {
        "locale": "zh-CN",
        "create": "创建仪式",
        "counter": "0/300字",
        "typed": "6/300字",
        "count": "已有2项 · 可设2至64项",
        "example": "例如：",
        "party_name": "请用韩文、中文和英文填写参与方名称。",
        "party_name_ko": "请用韩文填写参与方名称。",
        "venue_id": "请填写会场标识符。",
        "party_choice": "请选择签署人所属参与方。",
        "bad_id": "参与方标识符只能使用小写英文字母（a–z）、数字和连字符（-），不超过48个字符",
        "bad_zone": "无法识别该时区。请从列表中选择会场时区",
        "bidi": "仪式名称（英文）中含有不可见的控制字符或方向字符（U+202E，第4个字符）",
        "summary": "保存前请修改以下",
    },
}


async def _open_editor(server: Server, browser: Any, lang: str) -> tuple[Any, Page, list[str]]:
    context, page, errors = await new_page(browser, locale=str(WORDS[lang]["locale"]))
    await page.goto(server.operator_link)
    await page.wait_for_url(f"{server.base}/console")
    await page.goto(f"{server.base}/console/new?lang={lang}")
    await expect(page.locator('[data-list="parties"] [data-row]')).to_have_count(2)
    return context, page, errors


def _error_of(page: Page, path: str) -> Any:
    """The message beside the field (or group of language fields) at `path`."""
    return page.locator(f'[data-path="{path}"] > .field-error, .field-box:has([data-path="{path}"]) > .field-error')


async def _messages(page: Page) -> str:
    texts = await page.locator("#editor-alert, .field-error").all_inner_texts()
    return "\n".join(texts)


@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_limits_show_before_submitting(server: Server, browser: Any, lang: str) -> None:
    words = WORDS[lang]
    context, page, errors = await _open_editor(server, browser, lang)
    title = page.locator('[data-path="title.ko"]')
    # The limit is the validator's (ceremony.definition.TEXT_LIMITS), shown as a counter the field is described by.
    assert await title.get_attribute("maxlength") == "300"
    counter = page.locator(".field-box:has([data-path='title.ko']) [data-counter]")
    await expect(counter).to_have_text(str(words["counter"]))
    await expect(counter).to_be_visible()
    assert await counter.get_attribute("id") in (await title.get_attribute("aria-describedby") or "").split()
    await title.fill("강원 서명식")
    await expect(counter).to_have_text(str(words["typed"]))
    assert await page.locator('[data-path="parties[0].name.zh"]').get_attribute("maxlength") == "200"
    await expect(page.locator('[data-count-note="parties"]')).to_have_text(str(words["count"]))
    # Placeholders are examples, and say so; the label stays visible above the field.
    placeholder = await page.locator('[data-path="venues[0].id"]').get_attribute("placeholder")
    assert placeholder == f"{words['example']}chuncheon"
    await expect(page.locator('.field:has([data-path="venues[0].id"]) > span')).to_be_visible()
    assert errors == []
    await context.close()


@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_an_empty_form_says_each_problem_beside_its_field(server: Server, browser: Any, lang: str) -> None:
    words = WORDS[lang]
    context, page, errors = await _open_editor(server, browser, lang)
    await page.get_by_role("button", name=str(words["create"])).click()

    alert = page.locator("#editor-alert")
    await expect(alert).to_be_focused()
    await expect(alert).to_contain_text(str(words["summary"]))
    # A handful of entries, one per row or section, each a link to its first field.
    links = alert.locator(".problem-summary a")
    assert 5 <= await links.count() <= 15
    # The three missing languages of one name are one message, beside that name's fields.
    await expect(_error_of(page, "parties[0].name")).to_have_text(str(words["party_name"]))
    for code in ("ko", "zh", "en"):
        field = page.locator(f'[data-path="parties[0].name.{code}"]')
        await expect(field).to_have_attribute("aria-invalid", "true")
        message_id = await _error_of(page, "parties[0].name").get_attribute("id")
        assert message_id in (await field.get_attribute("aria-describedby") or "").split()
    await expect(_error_of(page, "venues[0].id")).to_have_text(str(words["venue_id"]))
    await expect(_error_of(page, "signatories[0].party")).to_have_text(str(words["party_choice"]))
    text = await _messages(page)
    assert not JSON_PATH.search(text), text
    assert not ENGLISH.search(text), text
    await check_page(page, f"editor {lang}: empty form submitted")

    # The summary's link goes to the field.
    await links.filter(has_text=re.compile(r"(참여기관|参与方) 1")).click()
    await expect(page.locator('[data-path="parties[0].id"]')).to_be_focused()
    # Typing clears that field's mark; the other languages of the name keep theirs, and their message.
    await page.locator('[data-path="parties[0].name.zh"]').fill("江原道")
    await page.locator('[data-path="parties[0].name.en"]').fill("Gangwon")
    await expect(page.locator('[data-path="parties[0].name.zh"]')).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator('[data-path="parties[0].name.ko"]')).to_have_attribute("aria-invalid", "true")
    # Partly bad: the page's own checks, in the same words the server's codes get.
    await page.locator('[data-path="parties[0].id"]').fill("Gangwon Province")
    await page.locator('[data-path="venues[0].timezone"]').fill("Asia/Nanjing")
    await page.get_by_role("button", name=str(words["create"])).click()
    await expect(_error_of(page, "parties[0].name")).to_have_text(str(words["party_name_ko"]))
    await expect(_error_of(page, "parties[0].id")).to_contain_text(str(words["bad_id"]))
    await expect(_error_of(page, "venues[0].timezone")).to_contain_text(str(words["bad_zone"]))
    text = await _messages(page)
    assert not JSON_PATH.search(text) and not ENGLISH.search(text), text
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"editor-partly-bad-{lang}.png"), full_page=True)
    assert errors == []
    await context.close()


@pytest.mark.parametrize("lang", ["ko", "zh"])
async def test_the_servers_codes_are_said_in_the_page_language(server: Server, browser: Any, lang: str) -> None:
    """A problem only the server finds (a direction mark in a title) comes back as a code, said in ko or zh."""
    words = WORDS[lang]
    context, page, errors = await _open_editor(server, browser, lang)
    await page.locator("#start-demo").click()
    await page.locator('[data-path="title.en"]').fill("MOU\u202e signing")
    before = await page.request.get(f"{server.base}/api/ceremonies", headers={"Accept": "application/json"})
    count = len((await before.json())["ceremonies"])
    await page.get_by_role("button", name=str(words["create"])).click()
    await expect(_error_of(page, "title.en")).to_have_text(re.compile(re.escape(str(words["bidi"]))))
    await expect(page.locator("#editor-alert")).to_be_focused()
    await expect(page.locator('[data-path="title.en"]')).to_have_attribute("aria-invalid", "true")
    text = await _messages(page)
    assert not JSON_PATH.search(text) and not ENGLISH.search(text), text
    after = await page.request.get(f"{server.base}/api/ceremonies", headers={"Accept": "application/json"})
    assert len((await after.json())["ceremonies"]) == count  # refused: nothing was made
    assert errors == []
    await context.close()
