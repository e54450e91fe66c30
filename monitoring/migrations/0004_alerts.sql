-- Alerts and their lifecycle: open -> acknowledged -> resolved.

CREATE TABLE alerts (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_id       bigint NOT NULL REFERENCES patients (id),
    site_id          bigint NOT NULL REFERENCES sites (id),
    rule             text NOT NULL,
    severity         text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    severity_rank    smallint GENERATED ALWAYS AS (
                         CASE severity WHEN 'critical' THEN 4 WHEN 'high' THEN 3
                                       WHEN 'medium' THEN 2 ELSE 1 END) STORED,
    state            text NOT NULL DEFAULT 'open'
                         CHECK (state IN ('open', 'acknowledged', 'resolved')),
    title            text NOT NULL,
    detail           jsonb NOT NULL DEFAULT '{}',
    -- The readings that justify the alert span [evidence_start, evidence_end].
    evidence_start   timestamptz NOT NULL,
    evidence_end     timestamptz NOT NULL,
    opened_at        timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_at  timestamptz,
    acknowledged_by  bigint REFERENCES users (id),
    resolved_at      timestamptz,
    resolved_by      bigint REFERENCES users (id),
    resolution_note  text,
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL))
);
-- One active alert per patient and rule: a sustained condition updates it, never duplicates it.
CREATE UNIQUE INDEX alerts_one_active ON alerts (patient_id, rule) WHERE state <> 'resolved';
CREATE INDEX alerts_active_site ON alerts (site_id, severity_rank DESC, opened_at DESC)
    WHERE state <> 'resolved';
CREATE INDEX alerts_patient ON alerts (patient_id, opened_at DESC);

CREATE TABLE alert_events (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id       bigint NOT NULL REFERENCES alerts (id),
    at             timestamptz NOT NULL DEFAULT now(),
    actor_user_id  bigint REFERENCES users (id),
    action         text NOT NULL
                       CHECK (action IN ('opened', 'updated', 'escalated', 'acknowledged',
                                         'resolved')),
    note           text,
    detail         jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_events_alert ON alert_events (alert_id, at);
