"""Home gateways on the panel, in headless Chromium, against ``homeward serve`` on a real broker.

A real gateway (``full_outbox_gateway.py``: the gateway's outbox and uplink in a process of their
own, on a Mosquitto of the test's own) fills its outbox and refuses clinical readings; the
gateway-health consumer inside ``homeward serve`` stores its heartbeat, the stream tells the page,
and the doctor reads the line without reloading. Then the gateway's process is killed: the
broker publishes its last will and the line turns to "Offline since …".

Chromium is the system's (see test_panel_browser.py); when it cannot be launched the test fails.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from status_docs import StatusPublisher, corruption_event, heartbeat, status_topic
from test_panel_browser import browser  # noqa: F401 - the fixture, shared
from worlds import Make, World

from homeward.embedded import MosquittoProcess, free_port
from homeward.server import serve
from homeward.settings import Settings
from monitoring import registry

pytestmark = pytest.mark.browser

GATEWAY = Path(__file__).with_name("full_outbox_gateway.py")


@pytest.fixture
def world(make: Make) -> World:
    return make.site()


@pytest.fixture
def panel(
    db_url: str, tmp_path: Path, world: World, private_broker: MosquittoProcess
) -> Iterator[str]:
    """``homeward serve`` (API, panel, evaluator, gateway health) on the test's own broker,
    following the test's site; yields the panel URL."""
    settings = Settings(
        database_url=db_url,
        mqtt_url=private_broker.url,
        gateway_status_site=world.site_code,
        data_dir=tmp_path,
        http_port=free_port(),
    )
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


def open_panel(chromium: Browser, url: str, make: Make, user: str) -> tuple[Page, list[str]]:
    page = chromium.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text) if m.type == "error" and "status of 401" not in m.text else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(url)
    page.fill("#username", make.username(user))
    page.fill("#password", make.password(user))
    page.click("#login-submit")
    expect(page.locator("#panel-view")).to_be_visible()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live", timeout=10_000)
    return page, problems


def test_a_doctor_sees_a_gateway_refusing_clinical_readings_then_going_offline(
    browser: Browser,  # noqa: F811
    panel: str,
    conn: Any,
    make: Make,
    world: World,
    private_broker: MosquittoProcess,
    tmp_path: Path,
) -> None:
    make.user(world, "drwang")
    make.patient(world, "li")
    gateway_id = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gateway_id, site_id=world.site_id)
    device = make.device(world, "li", "gm", kind="glucometer", gateway_id=gateway_id)

    page, problems = open_panel(browser, panel, make, "drwang")
    expect(page.locator("#gateways-view")).to_be_visible()
    expect(page.locator("#gateways-empty")).to_be_visible()
    page.evaluate("window.__sameDocument = true")

    log = (tmp_path / "gateway.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            str(GATEWAY),
            str(tmp_path / "outbox.sqlite3"),
            private_broker.url,
            world.site_code,
            gateway_id,
            device,
            "20",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=log,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().decode().strip() == "refused 3", (
            tmp_path / "gateway.log"
        ).read_text()
        card = page.locator("li.gateway", has_text=gateway_id)
        expect(card).to_be_visible(timeout=20_000)
        refused = card.locator(".gw-issue[data-code='readings_refused']")
        expect(refused).to_contain_text(
            "Outbox full: 3 clinical readings refused since", timeout=20_000
        )
        expect(refused).to_have_class("gw-issue sev-critical")
        expect(card.locator(".gw-patients")).to_have_text("Home of Li")
        expect(card.locator(".gw-issue[data-code='outbox_nearly_full']")).to_contain_text(
            "Outbox full: 20 of 20 readings waiting"
        )
        expect(card.locator(".gw-state")).to_have_text("ONLINE")
        # The power goes: the broker publishes the gateway's last will.
        proc.kill()
        proc.wait(10)
        expect(card.locator(".gw-state")).to_have_text("OFFLINE", timeout=20_000)
        expect(card.locator(".gw-issue[data-code='offline']")).to_contain_text("Offline since")
        expect(card.locator(".gw-issue[data-code='offline']")).to_contain_text(
            "20 readings waiting to be sent"
        )
        # What the gateway said before it died is still shown.
        expect(refused).to_contain_text("3 clinical readings refused")
        assert page.evaluate("window.__sameDocument") is True
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()
    row = conn.execute(
        "SELECT state, problems FROM gateway_status WHERE gateway_id = %s", (gateway_id,)
    ).fetchone()
    assert row["state"] == "offline"
    assert [p["code"] for p in row["problems"]] == ["readings_refused"]
    assert problems == []


def test_an_operator_sees_gateways_but_no_alerts(
    browser: Browser,  # noqa: F811
    panel: str,
    conn: Any,
    make: Make,
    world: World,
    private_broker: MosquittoProcess,
) -> None:
    make.user(world, "ops", role="operator", panel=False)
    gateway_id = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gateway_id, site_id=world.site_id, label="Flat 3B")
    page, problems = open_panel(browser, panel, make, "ops")
    expect(page.locator("#alerts-view")).to_be_hidden()
    expect(page.locator("#role-note")).to_have_text(
        "Your account (operator) does not show clinical data."
    )
    expect(page.locator("#gateways-empty")).to_be_visible()

    publisher = StatusPublisher(private_broker.url)
    try:
        event = corruption_event(datetime.now(UTC), "/data/gateway/outbox.sqlite3.corrupt-1")
        publisher.publish(
            status_topic(world.site_code, gateway_id), heartbeat(gateway_id, corruption=[event])
        )
        card = page.locator("li.gateway", has_text=gateway_id)
        expect(card.locator(".gw-name")).to_have_text(f"Flat 3B ({gateway_id})", timeout=20_000)
        expect(card.locator(".gw-issue")).to_contain_text("Outbox file was corrupt at")
        expect(card.locator(".gw-issue")).to_contain_text(
            "moved aside to /data/gateway/outbox.sqlite3.corrupt-1, started fresh"
        )
        expect(card.locator(".gw-patients")).to_have_count(0)
    finally:
        publisher.close()
    assert problems == []
