-- The latest word of every home gateway: its retained `homeward.gateway-status/1` document as the
-- gateway-health consumer (monitoring/gateway_health.py) received it. One row per gateway; a
-- document older than the stored one never replaces it (monitoring/gateway_status.py decides),
-- so out-of-order and duplicate deliveries, and several consumers at once, leave the newest.
-- Writers NOTIFY 'gateways_changed' when something a panel shows changed.

CREATE TABLE gateway_status (
    gateway_id            text PRIMARY KEY REFERENCES gateways (id) ON DELETE CASCADE,
    -- The site the gateway was registered at when the status was stored (and its topic named).
    site_id               bigint NOT NULL REFERENCES sites (id),
    state                 text NOT NULL CHECK (state IN ('online', 'offline')),
    boot_id               text NOT NULL,
    -- Heartbeat number and start of the uplink run (sent_at - uptime_s) of the latest heartbeat
    -- of this boot: within one run a higher seq is newer. NULL after an offline document of a
    -- boot we had no heartbeat of.
    seq                   bigint,
    run_started_at        timestamptz,
    -- The gateway's own clock: the latest sent_at it reported (the last will carries none).
    reported_at           timestamptz,
    -- Our clock: when the stored document arrived, when the latest heartbeat was heard (for a
    -- retained copy seen late, estimated from its sent_at), and when the gateway went offline.
    received_at           timestamptz NOT NULL,
    last_heard_at         timestamptz,
    offline_since         timestamptz,
    heartbeat_interval_s  double precision,
    -- sent_at - received_at of the latest heartbeat delivered live, in seconds: the gateway's
    -- clock error (positive: fast).
    clock_offset_s        double precision,
    -- The latest heartbeat's problems (kept while offline), and per problem code when it was
    -- first seen and when its content last changed: {"code": {"since": ts, "changed_at": ts}}.
    problems              jsonb NOT NULL DEFAULT '[]',
    problem_since         jsonb NOT NULL DEFAULT '{}',
    last_heartbeat        jsonb,
    raw                   jsonb NOT NULL,
    updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gateway_status_site ON gateway_status (site_id);
