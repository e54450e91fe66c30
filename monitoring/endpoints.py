"""The broker and database a central MQTT consumer (ingest, gateway health) is given."""

from __future__ import annotations

from devices import BrokerAddress, parse_broker_url
from homeward.errors import ConfigurationError
from homeward.settings import Settings


def service_endpoints(settings: Settings, service: str) -> tuple[BrokerAddress, str]:
    """``settings``' broker address and database URL for ``service`` (a name for messages, e.g.
    "the ingest"). Raises :class:`ConfigurationError` naming the setting that is missing or
    unusable, so a misconfigured process fails at start rather than on its first message."""
    if not settings.database_url:
        raise ConfigurationError("HOMEWARD_DATABASE_URL", f"{service} needs a database")
    if not settings.mqtt_url:
        raise ConfigurationError("HOMEWARD_MQTT_URL", f"{service} needs a broker")
    try:
        broker = parse_broker_url(settings.mqtt_url)
    except ValueError as exc:
        raise ConfigurationError("HOMEWARD_MQTT_URL", str(exc)) from None
    return broker, settings.database_url
