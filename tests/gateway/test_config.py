"""The cloud's config document: what it may change, and what it is refused for."""

from __future__ import annotations

import json

import pytest

from gateway import CONFIG_SCHEMA, ConfigError, GatewayConfig, UplinkConfig, parse_config


def doc(**fields: object) -> bytes:
    return json.dumps({"schema": CONFIG_SCHEMA, "version": 1, **fields}).encode()


def test_a_document_overrides_the_base_settings_it_names_and_no_others() -> None:
    base = UplinkConfig(max_batch_readings=200, heartbeat_interval_s=30)
    parsed = parse_config(
        doc(
            uplink={"flush_readings_per_s": 50, "heartbeat_interval_s": 10.5},
            outbox={"max_readings": 100_000},
        )
    )
    uplink, bound = parsed.resolve(base, 1_000_000)
    assert uplink.flush_readings_per_s == 50
    assert uplink.heartbeat_interval_s == 10.5
    assert uplink.max_batch_readings == 200  # not named: the base value
    assert bound == 100_000
    assert parse_config(parsed.encode()) == parsed


def test_an_empty_document_means_the_base_settings() -> None:
    base = UplinkConfig()
    assert parse_config(doc()).resolve(base, 5000) == (base, 5000)


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        (b"\xff\xfe", "document"),
        (b"[1, 2]", "document"),
        (json.dumps({"schema": "homeward.gateway-config/9", "version": 1}).encode(), "schema"),
        (doc(version=-1), "version"),
        (doc(version=True), "version"),
        (doc(colour="blue"), "colour"),
        (doc(uplink={"max_batch_size": 10}), "uplink.max_batch_size"),
        (doc(uplink={"max_batch_readings": 10.5}), "uplink.max_batch_readings"),
        (doc(uplink={"flush_readings_per_s": "fast"}), "uplink.flush_readings_per_s"),
        (doc(outbox={"max_readings": 0}), "outbox.max_readings"),
        (doc(outbox={"path": "outbox.sqlite3"}), "outbox.path"),
        (doc(outbox=[]), "outbox"),
    ],
)
def test_malformed_documents_are_refused_naming_the_field(raw: bytes, name: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(raw)
    assert err.value.name == name


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"uplink": {"flush_readings_per_s": 0}}, "uplink.flush_readings_per_s"),
        ({"uplink": {"max_in_flight_batches": 1000}}, "uplink.max_in_flight_batches"),
        ({"uplink": {"ack_timeout_s": 900}}, "uplink.ack_timeout_max_s"),
        # Eight in-flight batches of 500 could hold 4000 readings that cannot be thinned.
        ({"outbox": {"max_readings": 7999}}, "outbox.max_readings"),
    ],
)
def test_values_out_of_range_are_refused_naming_the_field(
    fields: dict[str, object], name: str
) -> None:
    parsed = parse_config(doc(**fields))
    with pytest.raises(ConfigError) as err:
        parsed.resolve(UplinkConfig(), 1_000_000)
    assert err.value.name == name


def test_a_document_round_trips() -> None:
    config = GatewayConfig(version=9, uplink={"batch_linger_s": 0.25}, outbox_max_readings=None)
    assert parse_config(config.encode()) == config
