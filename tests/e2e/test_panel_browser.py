"""The doctor's panel in headless Chromium against ``homeward serve`` (uvicorn + evaluator).

A doctor logs in, a desaturation is written to the database the way the ingest writes it, the
evaluator opens the alert, and the alert appears on the page without a reload; the doctor
acknowledges and resolves it and the page follows.

Chromium comes from the system (``/usr/bin/chromium``, Debian package ``chromium``); when it
cannot be launched the test fails with the reason, it does not skip.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from homeward.embedded import free_port
from homeward.server import serve
from homeward.settings import Settings
from monitoring.evaluations import ChangedSeries, mark_changed

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        except Exception as exc:
            pytest.fail(
                f"cannot launch Chromium at {CHROMIUM} ({exc}). Install it with"
                " `apt-get install -y chromium`; this test must not be skipped silently.",
                pytrace=False,
            )
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def homeward_serve(db_url: str, tmp_path: Path) -> Iterator[str]:
    """``homeward serve`` on a free port, in a thread; yields the panel URL."""
    settings = Settings(database_url=db_url, data_dir=tmp_path, http_port=free_port())
    stop = threading.Event()
    thread = threading.Thread(target=serve, args=(settings, stop), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{settings.http_port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(base + "/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            stop.set()
            pytest.fail("homeward serve did not come up within 20 s")
        time.sleep(0.1)
    try:
        yield base + "/"
    finally:
        stop.set()
        thread.join(15)


def write_desaturation(conn: Any, patient_id: int, device_id: str, *, minutes: int) -> None:
    """SpO2 85 % once a minute, stored and queued exactly as the ingest does."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=minutes + 1)
    with conn.transaction():
        conn.execute(
            "SELECT homeward_ensure_reading_partitions(%s::date, %s::date)",
            (start.date(), datetime.now(UTC).date()),
        )
        with conn.cursor().copy(
            "COPY readings (ts, device_id, metric, seq, patient_id, value, unit, gateway_id)"
            " FROM STDIN"
        ) as copy:
            for i in range(minutes + 1):
                copy.write_row(
                    (
                        start + timedelta(minutes=i),
                        device_id,
                        "spo2",
                        i,
                        patient_id,
                        85.0,
                        "%",
                        "gw-e2e",
                    )
                )
        mark_changed(conn, [ChangedSeries(patient_id, "spo2", start)])


def test_a_doctor_sees_a_desaturation_appear_live_and_handles_it(
    browser: Browser, homeward_serve: str, conn: Any, make: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    pid = make.patient(world, "li")
    device = make.device(world, "li", "ox")

    page: Page = browser.new_page()
    # Script errors and CSP refusals would show here. The one expected 401 (the page asking
    # "who am I?" before login) is logged by Chromium as a failed resource and left out.
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if m.type == "error" and "status of 401" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(homeward_serve)
    expect(page.locator("#login-view")).to_be_visible()
    page.fill("#username", make.username("drwang"))
    page.fill("#password", make.password("drwang"))
    page.click("#login-submit")

    expect(page.locator("#panel-view")).to_be_visible()
    expect(page.locator("#who")).to_have_text("Drwang")
    expect(page.locator("#empty")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # The desaturation arrives; the evaluator opens the alert; the stream brings it here.
    write_desaturation(conn, pid, device, minutes=7)
    card = page.locator("li.alert", has_text="Li")
    expect(card).to_be_visible(timeout=20_000)
    expect(card.locator(".sev")).to_have_text("HIGH")
    expect(card.locator(".state")).to_have_text("New")
    expect(card.locator(".evidence")).to_have_text("SpO2 85 % for 7 min, nadir 85 % (floor 90 %)")
    expect(page.locator("#empty")).to_be_hidden()
    assert page.evaluate("window.__sameDocument") is True

    card.get_by_role("button", name="Acknowledge").click()
    expect(card.locator(".state")).to_have_text("Acknowledged")
    expect(card.locator(".ack")).to_contain_text("Acknowledged by Drwang")
    expect(card.get_by_role("button", name="Acknowledge")).to_have_count(0)

    card.get_by_role("button", name="Resolve").click()
    dialog = page.locator("#resolve-dialog")
    expect(dialog).to_be_visible()
    page.click("#resolve-confirm")  # an empty note is refused on the page
    expect(page.locator("#resolve-error")).to_be_visible()
    page.fill("#resolve-note", "Phoned the daughter; oximeter clip was loose.")
    page.click("#resolve-confirm")
    expect(dialog).to_be_hidden()
    expect(page.locator("li.alert")).to_have_count(0)
    expect(page.locator("#empty")).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True

    row = conn.execute(
        "SELECT state, resolution_note, resolved_by FROM alerts WHERE patient_id = %s", (pid,)
    ).fetchone()
    assert row["state"] == "resolved"
    assert row["resolution_note"] == "Phoned the daughter; oximeter clip was loose."
    assert row["resolved_by"] == world.users["drwang"]
    assert problems == []


def test_a_wrong_password_is_refused_on_the_page(
    browser: Browser, homeward_serve: str, make: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    page = browser.new_page()
    page.goto(homeward_serve)
    page.fill("#username", make.username("drwang"))
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-error")).to_have_text("Unknown username or wrong password.")
    expect(page.locator("#panel-view")).to_be_hidden()
