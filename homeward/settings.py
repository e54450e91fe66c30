"""Settings: built once by the command line (or a test) and passed down to every part.

Every field can be set from the environment with the ``HOMEWARD_`` prefix, e.g.
``HOMEWARD_DATABASE_URL=postgresql://...``. No other module reads ``os.environ``.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "homeward"


class Settings(BaseSettings):
    """Typed configuration of a Homeward process."""

    model_config = SettingsConfigDict(env_prefix="HOMEWARD_", extra="ignore", frozen=True)

    environment: Literal["local", "production"] = "local"
    # postgresql://user@host:port/db. None means: `homeward demo` starts an embedded server.
    database_url: str | None = None
    # mqtt://host:port (mqtts:// for TLS). None means: `homeward demo` starts an embedded broker.
    mqtt_url: str | None = None
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # Where `homeward demo` keeps its embedded database, and a gateway its outbox.
    data_dir: Path = Field(default_factory=_default_data_dir)

    http_host: str = "127.0.0.1"
    http_port: int = 8000

    # Storage variant: auto uses TimescaleDB when the extension loads, native partitions otherwise.
    storage: Literal["auto", "native", "timescaledb"] = "auto"
    # Days of reading partitions the service keeps created ahead of today (native storage).
    partitions_ahead_days: int = 7

    default_timezone: str = "Asia/Shanghai"

    # Ingest: MQTT client id must be stable across restarts so the broker keeps the persistent
    # session (and its unacknowledged messages) for the worker that comes back.
    ingest_client_id: str = Field(default_factory=lambda: f"ingest-{socket.gethostname()}")
    # Shared-subscription group; None subscribes directly (brokers without $share support).
    ingest_share_group: str | None = "ingest"
    # Site code whose readings this ingest takes; "+" for every site. Tests sharing one broker set
    # their own site so workers of concurrent test sessions never take each other's messages.
    ingest_site: str = "+"
    ingest_db_pool_size: int = 4
    # Port of the ingest's own /metrics (Prometheus) and /healthz listener on http_host; None
    # serves none, 0 any free port (logged).
    ingest_metrics_port: int | None = None

    # Gateway health (run by `homeward serve` when a broker is set): the site code whose gateways'
    # status it follows, "+" for every site. Tests sharing one broker set their own site.
    gateway_status_site: str = "+"

    session_ttl_hours: int = 12
    log_level: str = "INFO"
