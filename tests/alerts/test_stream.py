"""The live alert stream (server-sent events) against a real uvicorn."""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from status_docs import heartbeat, offline, status_topic

from alerts import lifecycle
from alerts.request import AlertRequest, Severity
from alerts.rules.spo2 import RULE
from homeward.app import create_app
from homeward.server import ServerThread
from monitoring import registry
from monitoring.gateway_status import store_status


class SSEClient:
    """Reads one event stream in a background thread; events land in a queue."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(base_url, headers), daemon=True)
        self._thread.start()

    def _run(self, base_url: str, headers: dict[str, str]) -> None:
        try:
            with (
                httpx.Client(base_url=base_url, timeout=httpx.Timeout(10.0, read=None)) as c,
                c.stream("GET", "/api/v1/alerts/stream", headers=headers) as r,
            ):
                self.status = r.status_code
                self.content_type = r.headers.get("content-type", "")
                if r.status_code != 200:
                    r.read()
                    self.events.put(("http-error", r.json()))
                    return
                event, data = "message", ""
                for line in r.iter_lines():
                    if line.startswith(":"):
                        self.events.put(("comment", line[1:].strip()))
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data += line[5:].strip()
                    elif line == "":
                        if data or event != "message":
                            self.events.put((event, json.loads(data) if data else None))
                        event, data = "message", ""
        except httpx.HTTPError as exc:
            self.events.put(("transport-error", str(exc)))
        finally:
            self.ended.set()

    def wait_for(self, kind: str, timeout_s: float = 10.0) -> Any:
        """The data of the next event of ``kind`` (others are skipped); fails on timeout."""
        deadline = time.monotonic() + timeout_s
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no {kind!r} event within {timeout_s} s"
            try:
                got_kind, data = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            if got_kind == kind:
                return data

    def drain(self, for_s: float) -> list[tuple[str, Any]]:
        """Every event received during the next ``for_s`` seconds."""
        out: list[tuple[str, Any]] = []
        deadline = time.monotonic() + for_s
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                out.append(self.events.get(timeout=remaining))
            except queue.Empty:
                break
        return out


def open_alert(conn: Any, patient_id: int, site_id: int) -> int:
    end = datetime.now(UTC)
    change = lifecycle.open_or_update(
        conn,
        AlertRequest(patient_id, RULE, Severity.HIGH, "SpO2 low", end - timedelta(minutes=6), end),
        site_id=site_id,
    )
    assert change.alert_id is not None
    return change.alert_id


def store_gateway_status(conn: Any, site_code: str, gateway_id: str, payload: bytes) -> None:
    """Store a status as the gateway-health consumer does (it commits, then NOTIFY)."""
    with conn.transaction():
        result = store_status(
            conn,
            topic=status_topic(site_code, gateway_id),
            payload=payload,
            received_at=datetime.now(UTC),
        )
    assert result.notified, result


def test_a_newly_opened_alert_is_pushed_only_to_clients_who_may_see_it(
    server: ServerThread, client: httpx.Client, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    other_uid = make.user(world, "drsun", panel=False)
    panel_b = registry.create_panel(conn, site_id=world.site_id, name="Panel B")
    registry.add_panel_member(conn, panel_id=panel_b, user_id=other_uid)
    pid = make.patient(world, "li")

    doctor = login("drwang")
    mine = SSEClient(server.url, doctor)
    theirs = SSEClient(server.url, login("drsun"))
    assert mine.wait_for("ready") == {"listening": True}
    theirs.wait_for("ready")
    assert mine.status == 200
    assert mine.content_type.startswith("text/event-stream")

    alert_id = open_alert(conn, pid, world.site_id)
    assert mine.wait_for("alert") == {"alert_id": alert_id, "action": "opened"}

    r = client.post(f"/api/v1/alerts/{alert_id}/acknowledge", headers=doctor)
    assert r.status_code == 200
    assert mine.wait_for("alert") == {"alert_id": alert_id, "action": "acknowledged"}

    # The doctor of the other panel heard heartbeats only.
    kinds = {k for k, _ in theirs.drain(1.2)}
    assert "alert" not in kinds
    assert "comment" in kinds  # ": heartbeat"

    # One LISTEN connection for the whole process, however many subscribers.
    n = conn.execute(
        "SELECT count(*) AS n FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'homeward-alert-stream'"
    ).fetchone()["n"]
    assert n == 1


def test_the_stream_ends_when_the_session_is_revoked(
    server: ServerThread, client: httpx.Client, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    doctor = login("drwang")
    stream = SSEClient(server.url, doctor)
    stream.wait_for("ready")
    assert client.post("/api/v1/auth/logout", headers=doctor).status_code == 204
    stream.wait_for("session-ended", timeout_s=5)
    assert stream.ended.wait(5)


def test_operators_get_gateway_events_only_and_strangers_get_no_stream(
    server: ServerThread, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "ops", role="operator", panel=False)
    pid = make.patient(world, "li")
    gw = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gw, site_id=world.site_id)
    ops = SSEClient(server.url, login("ops"))
    ops.wait_for("ready")
    open_alert(conn, pid, world.site_id)
    store_gateway_status(conn, world.site_code, gw, offline(gw))
    assert ops.wait_for("gateways") == {"gateway_id": gw}
    assert "alert" not in {k for k, _ in ops.drain(1.0)}
    # An account of no site would see nothing at all on the stream.
    nobody = make.user(world, "nosite", role="operator", panel=False)
    conn.execute("UPDATE users SET site_id = NULL WHERE id = %s", (nobody,))
    refused = SSEClient(server.url, login("nosite"))
    problem = refused.wait_for("http-error")
    assert (refused.status, problem["type"]) == (403, "/problems/forbidden")
    anonymous = SSEClient(server.url, {})
    problem = anonymous.wait_for("http-error")
    assert (anonymous.status, problem["type"]) == (401, "/problems/unauthenticated")


def test_a_gateway_status_change_is_pushed_to_its_site_only(
    server: ServerThread, conn: Any, make: Any, login: Any, other_site: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    stranger = make.user(world, "drzhao")
    conn.execute("UPDATE users SET site_id = %s WHERE id = %s", (other_site.site_id, stranger))
    gw = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gw, site_id=world.site_id)
    mine = SSEClient(server.url, login("drwang"))
    theirs = SSEClient(server.url, login("drzhao"))
    mine.wait_for("ready")
    theirs.wait_for("ready")
    store_gateway_status(conn, world.site_code, gw, heartbeat(gw, seq=1))
    assert mine.wait_for("gateways") == {"gateway_id": gw}
    store_gateway_status(conn, world.site_code, gw, offline(gw))
    assert mine.wait_for("gateways") == {"gateway_id": gw}
    assert "gateways" not in {k for k, _ in theirs.drain(1.0)}


def test_stopping_the_server_closes_open_streams_promptly(api_settings: Any, make: Any) -> None:
    world = make.site()
    make.user(world, "drwang")
    srv = ServerThread(create_app(api_settings, sse_heartbeat_s=30))
    srv.start()
    with httpx.Client(base_url=srv.url) as c:
        r = c.post(
            "/api/v1/auth/login",
            json={"username": make.username("drwang"), "password": make.password("drwang")},
        )
        token = r.json()["token"]
    stream = SSEClient(srv.url, {"Authorization": f"Bearer {token}"})
    stream.wait_for("ready")
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 3.0
    stream.wait_for("closing", timeout_s=1)
    assert stream.ended.wait(2)


def test_subscribers_are_told_to_refetch_after_the_listener_reconnects(
    server: ServerThread, conn: Any, make: Any, login: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    pid = make.patient(world, "li")
    stream = SSEClient(server.url, login("drwang"))
    stream.wait_for("ready")
    # The database drops the listening connection (a restart, a network cut).
    conn.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
        " WHERE datname = current_database() AND application_name = 'homeward-alert-stream'"
    )
    stream.wait_for("resync", timeout_s=10)
    # And it listens again.
    alert_id = open_alert(conn, pid, world.site_id)
    assert stream.wait_for("alert") == {"alert_id": alert_id, "action": "opened"}


def test_a_gateway_falling_silent_is_announced_though_it_sends_nothing(
    api_settings: Any, conn: Any, make: Any
) -> None:
    world = make.site()
    make.user(world, "drwang")
    gw = f"gw-{make.tag}"
    registry.register_gateway(conn, gateway_id=gw, site_id=world.site_id)
    srv = ServerThread(create_app(api_settings, sse_heartbeat_s=0.5, gateway_sweep_s=0.2))
    srv.start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            r = c.post(
                "/api/v1/auth/login",
                json={"username": make.username("drwang"), "password": make.password("drwang")},
            )
        stream = SSEClient(srv.url, {"Authorization": f"Bearer {r.json()['token']}"})
        stream.wait_for("ready")
        store_gateway_status(conn, world.site_code, gw, heartbeat(gw, interval_s=1.0))
        assert stream.wait_for("gateways") == {"gateway_id": gw}
        # Time passes without a heartbeat: the silence (10 s at the least) begins a second from now.
        conn.execute(
            "UPDATE gateway_status SET last_heard_at = now() - interval '9 seconds'"
            " WHERE gateway_id = %s",
            (gw,),
        )
        assert stream.wait_for("gateways", timeout_s=15) == {"gateway_id": gw}
        assert "gateways" not in {k for k, _ in stream.drain(1.5)}  # announced once
    finally:
        srv.stop()
