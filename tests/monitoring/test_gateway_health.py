"""The gateway-health consumer on the real broker and database: what gateways publish is stored.

Each test follows only its own site's topics (``gateway_status_site``), so consumers of other
test sessions on the shared Mosquitto never see its messages, nor it theirs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from status_docs import StatusPublisher, heartbeat, offline, status_topic
from worlds import Make, World

from devices import parse_broker_url
from homeward.embedded import MosquittoProcess
from homeward.settings import Settings
from monitoring import registry
from monitoring.gateway_health import GatewayHealthConsumer, status_filter


def wait_for(predicate: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    return predicate()


class Running:
    """A consumer in a thread of its own, stopped at the end of the test."""

    def __init__(self, settings: Settings) -> None:
        self.consumer = GatewayHealthConsumer(settings)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.consumer.run, args=(self.stop,), daemon=True)
        self.thread.start()
        assert self.consumer.subscribed.wait(15), "the consumer did not subscribe"

    def close(self) -> None:
        self.stop.set()
        self.thread.join(15)
        assert not self.thread.is_alive()


@pytest.fixture
def world(make: Make) -> World:
    return make.site()


@pytest.fixture
def consumer_settings(settings: Settings, world: World) -> Settings:
    return settings.model_copy(update={"gateway_status_site": world.site_code})


@pytest.fixture
def start(consumer_settings: Settings) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def _start(**overrides: Any) -> Running:
        r = Running(consumer_settings.model_copy(update=overrides))
        running.append(r)
        return r

    yield _start
    for r in running:
        r.close()


@pytest.fixture
def publisher(mqtt_url: str) -> Iterator[StatusPublisher]:
    p = StatusPublisher(mqtt_url)
    try:
        yield p
    finally:
        p.close()


def gateway(conn: Any, world: World, make: Make, name: str = "gw") -> str:
    gateway_id = f"{name}-{make.tag}"
    registry.register_gateway(conn, gateway_id=gateway_id, site_id=world.site_id)
    return gateway_id


def status_row(conn: Any, gateway_id: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = conn.execute(
        "SELECT * FROM gateway_status WHERE gateway_id = %s", (gateway_id,)
    ).fetchone()
    return row


def test_a_heartbeat_published_to_the_broker_is_stored(
    conn: Any, world: World, make: Make, start: Any, publisher: StatusPublisher
) -> None:
    gw = gateway(conn, world, make)
    start()
    publisher.publish(
        status_topic(world.site_code, gw), heartbeat(gw, seq=1, readings=900, refused=3)
    )
    row = wait_for(lambda: status_row(conn, gw))
    assert row is not None
    assert (row["state"], row["seq"], row["site_id"]) == ("online", 1, world.site_id)
    assert row["last_heartbeat"]["outbox"]["refused_readings"] == 3
    # Delivered live: the gateway's clock (this machine's) agrees with ours.
    assert abs(row["clock_offset_s"]) < 5


def test_the_retained_status_of_gateways_that_reported_before_the_consumer_started_is_stored(
    conn: Any, world: World, make: Make, start: Any, publisher: StatusPublisher
) -> None:
    gws = [gateway(conn, world, make, f"gw{i}") for i in range(3)]
    sent = datetime.now(UTC) - timedelta(minutes=10)
    for gw in gws:
        publisher.publish(status_topic(world.site_code, gw), heartbeat(gw, seq=4, sent_at=sent))
    start()
    assert wait_for(lambda: all(status_row(conn, gw) for gw in gws))
    row = status_row(conn, gws[0])
    assert row is not None
    # Heard ten minutes ago (when it was sent), not when the retained copy arrived.
    assert abs((row["last_heard_at"] - sent).total_seconds()) < 1


def test_a_gateway_whose_connection_dies_is_marked_offline_by_its_last_will(
    conn: Any, world: World, make: Make, start: Any, mqtt_url: str, publisher: StatusPublisher
) -> None:
    gw = gateway(conn, world, make)
    running = start()
    topic = status_topic(world.site_code, gw)
    publisher.clear_on_close(topic)  # the will stays retained on the shared broker otherwise
    address = parse_broker_url(mqtt_url)
    # A gateway's connection: the will is fixed when connecting, as gateway.Uplink does.
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=gw)
    client.will_set(topic, offline(gw), qos=1, retain=True)
    client.connect(address.host, address.port, keepalive=30)
    info = client.publish(topic, heartbeat(gw, seq=1, readings=12), qos=1, retain=True)
    while not info.is_published():
        client.loop(0.1)
    assert wait_for(lambda: (status_row(conn, gw) or {}).get("state") == "online")
    # The power goes: the connection ends without a DISCONNECT.
    sock = client.socket()
    assert sock is not None
    sock.close()
    row = wait_for(lambda: (r := status_row(conn, gw)) and r["state"] == "offline" and r)
    assert row, running.consumer.counts()
    assert row["offline_since"] is not None
    assert row["last_heartbeat"]["outbox"]["readings"] == 12


def test_unusable_messages_are_counted_and_the_consumer_keeps_going(
    conn: Any, world: World, make: Make, start: Any, publisher: StatusPublisher
) -> None:
    gw = gateway(conn, world, make)
    other_site = registry.create_site(conn, code=f"other-{make.tag}", name="Other")
    elsewhere = f"gw-elsewhere-{make.tag}"
    registry.register_gateway(conn, gateway_id=elsewhere, site_id=other_site)
    running = start()
    site = world.site_code
    publisher.publish(status_topic(site, f"gw-unknown-{make.tag}"), heartbeat("gw-unknown"))
    publisher.publish(status_topic(site, f"gw-bad-{make.tag}"), b"\x00 not json")
    publisher.publish(status_topic(site, f"gw-v9-{make.tag}"), b'{"schema": "homeward.x/9"}')
    publisher.publish(status_topic(site, elsewhere), heartbeat(elsewhere))
    publisher.publish(
        status_topic(site, f"gw-nobody-{make.tag}"), heartbeat(f"gw-nobody-{make.tag}")
    )
    publisher.publish(status_topic(site, gw), heartbeat(gw, seq=2))
    assert wait_for(lambda: status_row(conn, gw))
    counts = wait_for(lambda: (c := running.consumer.counts()).get("stored") and c)
    assert counts == {
        "gateway_mismatch": 1,
        "malformed": 1,
        "unknown_schema": 1,
        "other_site": 1,
        "unknown_gateway": 1,
        "stored": 1,
    }
    assert status_row(conn, elsewhere) is None


def test_duplicates_and_late_heartbeats_leave_the_newest_stored(
    conn: Any, world: World, make: Make, start: Any, publisher: StatusPublisher
) -> None:
    gw = gateway(conn, world, make)
    running = start()
    topic = status_topic(world.site_code, gw)
    run = datetime.now(UTC) - timedelta(hours=1)
    now = datetime.now(UTC)
    newest = heartbeat(gw, seq=5, sent_at=now, run_start=run)
    publisher.publish(topic, newest)
    publisher.publish(topic, newest)
    publisher.publish(
        topic, heartbeat(gw, seq=4, sent_at=now - timedelta(seconds=60), run_start=run)
    )
    wait_for(lambda: sum(running.consumer.counts().values()) == 3)
    assert running.consumer.counts() == {"stored": 1, "unchanged": 2}
    assert status_row(conn, gw)["seq"] == 5  # type: ignore[index]


def test_the_consumer_comes_back_after_the_broker_and_the_database_drop_it(
    conn: Any,
    world: World,
    make: Make,
    start: Any,
    private_broker: MosquittoProcess,
) -> None:
    gw = gateway(conn, world, make)
    running = start(mqtt_url=private_broker.url)
    topic = status_topic(world.site_code, gw)
    private_broker.stop()
    assert wait_for(lambda: not running.consumer.subscribed.is_set())
    private_broker.start()
    assert running.consumer.subscribed.wait(30), "did not resubscribe after the broker restart"
    publisher = StatusPublisher(private_broker.url)
    try:
        publisher.publish(topic, heartbeat(gw, seq=1))
        assert wait_for(lambda: status_row(conn, gw))
        # The database drops the consumer's connection (a restart, a failover).
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name = 'homeward-gateway-health'"
        )
        publisher.publish(topic, heartbeat(gw, seq=2))
        assert wait_for(lambda: status_row(conn, gw)["seq"] == 2, 30)  # type: ignore[index]
    finally:
        publisher.close()


def test_the_followed_site_must_be_one_topic_level() -> None:
    assert status_filter("+") == "homeward/v1/+/+/status"
    assert status_filter("site-a") == "homeward/v1/site-a/+/status"
    with pytest.raises(Exception, match="HOMEWARD_GATEWAY_STATUS_SITE"):
        status_filter("a/#")
