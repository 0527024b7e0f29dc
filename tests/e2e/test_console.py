"""The console in a real browser (Debian's headless Chromium driven by Playwright) against
the five services: an agent signs in, an offer appears without a reload and is accepted by
keyboard, another times out and disappears; a supervisor watches a queue grow and shrink and
force-assigns a waiting ticket; an agent's key gets a 403 page for the wallboard. Writes
screenshots of the inbox and the wallboard (``docs/screenshots/``, or
``TIERLINE_SCREENSHOT_DIR``)."""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import text

from tests.conftest import Databases
from tests.e2e.conftest import Stack, ticket
from tests.helpers import eventually
from tierline_shared.embedded import EmbeddedKafka, free_port

pytestmark = [pytest.mark.db, pytest.mark.kafka, pytest.mark.e2e]

CHROMIUM = os.environ.get("TIERLINE_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("TIERLINE_SCREENSHOT_DIR",
                            Path(__file__).resolve().parents[2] / "docs" / "screenshots"))
OFFER_TIMEOUT_S = 8
ROSTER = {"ana": {"name": "Ana Lima", "tier": 1, "skills": {"network": 3},
                  "channels": {"portal": 3}},
          # no network skill: routing never picks Dan, only a supervisor does
          "dan": {"name": "Dan Roe", "tier": 2, "skills": {"printing": 3},
                  "channels": {"portal": 1, "chat": 2}}}


@pytest.fixture(scope="module")
async def console(databases: Databases, kafka: EmbeddedKafka,
                  tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    s = Stack(databases, kafka.bootstrap_servers, tmp_path_factory.mktemp("console"))
    port = free_port()
    s.settings = s.settings.model_copy(update={"console_port": port})
    s.procs.env.update(TIERLINE_CONSOLE_PORT=str(port),
                       TIERLINE_ROUTER_OFFER_TIMEOUT_S=str(OFFER_TIMEOUT_S),
                       TIERLINE_ROUTER_JOB_INTERVAL_S="0.2")
    try:
        s.start("intake", "router", "sla", "metrics", "console")
        await s.put_roster(ROSTER)
        yield s
    finally:
        await s.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()


VIOLATIONS: list[str] = []  # what the browser refused under the Content-Security-Policy


async def new_page(browser: Browser) -> Page:
    context = await browser.new_context(viewport={"width": 1366, "height": 768})
    page = await context.new_page()
    page.on("console", lambda m: VIOLATIONS.append(m.text)
            if "Content Security Policy" in m.text or m.type == "error" and "htmx" in m.text
            else None)
    return page


@pytest.fixture(autouse=True)
def no_policy_violations() -> Iterator[None]:
    VIOLATIONS.clear()
    yield
    assert VIOLATIONS == [], "the page broke its own Content-Security-Policy"


async def agent_key(stack: Stack, agent_id: str) -> str:
    async with stack.client("router") as admin:
        r = await admin.post("/v1/keys", json={"name": f"console {agent_id}",
                                               "agent_id": agent_id,
                                               "scopes": ["agents:write", "tickets:read"]})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


async def sign_in(page: Page, stack: Stack, key: str) -> None:
    await page.goto(f"{stack.url('console')}/signin")
    await page.get_by_label("API key").fill(key)
    await page.get_by_role("button", name="Sign in").click()


async def post_ticket(stack: Stack, **overrides: Any) -> str:
    async with stack.client("intake") as client:
        r = await client.post("/v1/tickets", json=ticket(**overrides))
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def assignment(stack: Stack, tid: str) -> dict[str, Any] | None:
    async with stack.client("router") as client:
        r = await client.get(f"/v1/assignments/{tid}")
    return r.json() if r.status_code == 200 else None


async def presence(stack: Stack, agent_id: str, value: str) -> None:
    async with stack.client("router") as client:
        r = await client.put(f"/v1/agents/{agent_id}/presence", json={"presence": value})
    assert r.status_code == 200, r.text


async def test_an_agent_sees_offers_live_accepts_one_and_sees_one_time_out(
        console: Stack, browser: Browser) -> None:
    key = await agent_key(console, "ana")
    page = await new_page(browser)
    await sign_in(page, console, key)
    await expect(page).to_have_url(re.compile(r"/inbox$"))
    await expect(page.get_by_role("heading", name="Inbox of ana")).to_be_visible()
    await expect(page.locator("#presence-now")).to_have_text("available")
    await page.evaluate("window.__notReloaded = true")
    await page.wait_for_timeout(1000)  # the live feed connected

    tid = await post_ticket(console, title="VPN drops every few minutes")
    offered = await eventually(lambda: assignment(console, tid), interval=0.05,
                               what="router's offer")
    seen_at = time.monotonic()
    card = page.locator(f"#offer-{tid}")
    await expect(card).to_be_visible(timeout=10_000)
    lag = time.monotonic() - seen_at
    print(f"offer reached the page {lag:.2f}s after router's decision was visible")
    assert lag < 2.0, f"the offer took {lag:.2f}s to reach the page"
    assert await page.evaluate("window.__notReloaded") is True
    await expect(card.get_by_role("heading")).to_have_text("VPN drops every few minutes")
    await expect(card).to_contain_text(offered["priority"])
    await expect(card).to_contain_text("network")
    await expect(card.locator("[data-due]").first).to_have_text(re.compile(r"\d+[hms]"))
    await page.screenshot(path=SHOTS / "console-inbox.png", full_page=True)

    accept = page.get_by_role("button", name="Accept VPN drops every few minutes")
    await accept.focus()
    await page.keyboard.press("Enter")
    await expect(card).to_have_count(0)
    await expect(page.locator(f"#holding tr[data-ticket='{tid}']")).to_be_visible()
    assert (await assignment(console, tid))["status"] == "accepted"

    # an offer nobody answers disappears when it times out (and router sets Ana away)
    late = await post_ticket(console, title="Wi-Fi drops in room 4")
    await expect(page.locator(f"#offer-{late}")).to_be_visible(timeout=10_000)
    await expect(page.locator(f"#offer-{late}")).to_have_count(
        0, timeout=(OFFER_TIMEOUT_S + 10) * 1000)
    assert await page.evaluate("window.__notReloaded") is True
    await page.reload()
    await expect(page.locator("#presence-now")).to_have_text("away")
    await page.get_by_label("Set presence").select_option("available")
    await page.get_by_role("button", name="Set", exact=True).click()
    await expect(page.locator("#presence-now")).to_have_text("available")
    # the ticket that timed out waited for her: coming back offers it again
    await expect(page.locator(f"#offer-{late}")).to_be_visible(timeout=10_000)
    await page.get_by_role("button", name="Accept Wi-Fi drops in room 4").click()
    await expect(page.locator(f"#holding tr[data-ticket='{late}']")).to_be_visible()
    await page.context.close()


async def test_a_supervisor_sees_a_queue_grow_and_shrink_and_force_assigns(
        console: Stack, browser: Browser) -> None:
    page = await new_page(browser)
    await sign_in(page, console, console.api_key)
    await expect(page).to_have_url(re.compile(r"/wallboard$"))
    await expect(page.get_by_role("heading", name="Wallboard")).to_be_visible()
    await expect(page.locator(".tile .label").first).to_have_text("Service level today")

    await presence(console, "ana", "offline")
    waiting = [await post_ticket(console, title=f"Network share gone {n}") for n in range(2)]
    depth = page.locator("#queues tbody tr .depth")
    await expect(depth).to_have_text(["2"], timeout=20_000)
    await expect(page.locator("#waiting tbody tr")).to_have_count(2)
    await expect(page.locator("[data-agent='ana']")).to_be_visible()
    await page.screenshot(path=SHOTS / "console-wallboard.png", full_page=True)

    await page.get_by_label("Ticket id").fill(waiting[0])
    await page.get_by_label("Agent", exact=True).select_option("dan")
    await page.get_by_label("Reason (kept in the routing history)").fill(
        "Dan knows this share")
    await page.get_by_role("button", name="Assign").click()
    await expect(page.locator("#assign-ok")).to_contain_text("is now dan's")
    await expect(depth).to_have_text(["1"], timeout=10_000)
    held = await assignment(console, waiting[0])
    assert held is not None and (held["agent_id"], held["status"]) == ("dan", "accepted")
    async with console.client("router") as client:
        steps = (await client.get(f"/v1/assignments/{waiting[0]}/history")).json()["items"]
    assert any(s["action"] == "force_assigned" and s["detail"]["reason"] ==
               "Dan knows this share" for s in steps)

    # Dan is full on portal: a second one is refused unless the override is ticked
    await page.get_by_label("Ticket id").fill(waiting[1])
    await page.get_by_label("Agent", exact=True).select_option("dan")
    await page.get_by_label("Reason (kept in the routing history)").fill("Dan again")
    await page.get_by_role("button", name="Assign").click()
    await expect(page.locator("#assign-error")).to_contain_text("portal capacity")

    # an SLA breach as metrics recorded it shows up on the board, newest first
    async with console.engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO metrics.sla_events (event_id, ticket_id, kind, clock, priority, "
            "threshold_percent, at) VALUES (:e, :t, 'breach', 'first_response', 'P2', NULL, "
            "now()), (:w, :t, 'warning', 'resolution', 'P2', 80, now() - interval '1 minute')"),
            {"e": uuid.uuid4(), "w": uuid.uuid4(), "t": uuid.UUID(waiting[1])})
    rows = page.locator("#sla-events tbody tr")
    await expect(rows).to_have_count(2, timeout=10_000)
    await expect(rows.first).to_contain_text("P2 breach")
    await expect(rows.nth(1)).to_contain_text("warning 80%")
    async with console.client("metrics") as client:
        r = await client.get("/v1/reports/sla-events", params={"kind": "breach"})
        assert [(e["ticket_id"], e["clock"]) for e in r.json()["items"]] == [
            (waiting[1], "first_response")]
        for bad in ({"limit": 0}, {"since": "2026-11-30T09:00:00"}, {"kind": "late"}):
            assert (await client.get("/v1/reports/sla-events", params=bad)).status_code == 422

    await presence(console, "ana", "available")
    await expect(page.locator("#no-queues")).to_be_visible(timeout=20_000)
    await page.set_viewport_size({"width": 1920, "height": 1080})  # a wall TV
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=SHOTS / "console-wallboard-tv.png")
    size = await page.locator(".tile .value").first.evaluate(
        "e => parseFloat(getComputedStyle(e).fontSize)")
    assert size >= 40, f"the KPI figures are {size}px on a wall TV"

    await page.get_by_label("Requester id").fill("u-1001")
    await page.get_by_role("button", name="Search").click()
    await expect(page.locator(f"#found tr[data-ticket='{waiting[0]}']")).to_contain_text("dan")
    await page.context.close()


async def test_an_agent_key_gets_a_403_page_for_the_wallboard(
        console: Stack, browser: Browser) -> None:
    page = await new_page(browser)
    await sign_in(page, console, await agent_key(console, "dan"))
    await expect(page).to_have_url(re.compile(r"/inbox$"))
    response = await page.goto(f"{console.url('console')}/wallboard")
    assert response is not None and response.status == 403
    await expect(page.get_by_role("heading", name="403: not allowed")).to_be_visible()
    await expect(page.get_by_role("navigation").get_by_role("link")).to_have_text(["Inbox"])
    # keyboard: the first Tab reaches the skip link, which moves focus to the content
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#main")).to_be_focused()
    await page.context.close()


async def test_keys_stay_out_of_urls_and_logs_and_forms_need_their_token(
        console: Stack) -> None:
    base = console.url("console")
    async with httpx.AsyncClient(base_url=base) as client:
        form = await client.get("/signin")
        assert form.status_code == 200
        csp = form.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp
        assert "frame-ancestors 'none'" in csp and form.headers["x-frame-options"] == "DENY"

        async def pre() -> str:
            form = await client.get("/signin")
            return re.search(r'name="pre" value="([^"]+)"', form.text).group(1)  # type: ignore

        refused = await client.post("/signin", data={"api_key": console.api_key,
                                                     "pre": "forged"})
        assert refused.status_code == 403 and "expired" in refused.text
        wrong = await client.post("/signin", data={"api_key": "tl_" + "0" * 12 + "_" + "0" * 48,
                                                   "pre": await pre()})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        empty = await client.post("/signin", data={"api_key": " ", "pre": await pre()})
        assert empty.status_code == 422 and "Enter your API key" in empty.text
        signed = await client.post("/signin", data={"api_key": console.api_key,
                                                    "pre": await pre()})
        assert signed.status_code == 303 and signed.headers["location"] == "/wallboard"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert console.api_key not in signed.headers["set-cookie"]
        board = await client.get("/wallboard")
        assert board.status_code == 200 and console.api_key not in board.text
        assert board.headers["cache-control"] == "no-store"
        body = {"ticket_id": "00000000-0000-0000-0000-000000000000", "agent_id": "dan",
                "reason": "x"}
        forged = await client.post("/wallboard/assign", data=body)
        assert forged.status_code == 403
        token = re.search(r'name="csrf" value="([^"]+)"', board.text).group(1)
        sent = await client.post("/wallboard/assign", data={**body, "csrf": token})
        assert sent.status_code == 422 and "no ticket" in sent.text
        out = await client.post("/signout", data={"csrf": token})
        assert out.status_code == 303
        assert (await client.get("/wallboard")).status_code == 303
    logs = "".join(p.read_text(errors="replace") for p in console.procs.log_dir.glob("*.log"))
    assert console.api_key not in logs and "tl_" not in logs
