-- Readings on TimescaleDB: a hypertable with daily chunks and compression of older chunks.
-- Same columns, primary key and query results as the native variant.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE readings (
    ts           timestamptz NOT NULL,
    device_id    text NOT NULL,
    metric       text NOT NULL,
    seq          bigint NOT NULL,
    patient_id   bigint NOT NULL,
    value        double precision,
    unit         text NOT NULL,
    flags        text[] NOT NULL DEFAULT '{}',
    gateway_id   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, metric, seq, ts)
);

SELECT create_hypertable('readings', by_range('ts', INTERVAL '1 day'));

CREATE INDEX readings_patient_metric_ts ON readings (patient_id, metric, ts DESC);

-- Chunks older than two weeks are compressed; late readings still insert (TimescaleDB >= 2.11
-- decompresses the affected segment for ON CONFLICT).
ALTER TABLE readings SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'patient_id, metric',
    timescaledb.compress_orderby = 'ts DESC'
);
SELECT add_compression_policy('readings', INTERVAL '14 days');

-- TimescaleDB creates chunks on insert; the function exists so callers need not know the variant.
CREATE FUNCTION homeward_ensure_reading_partitions(from_day date, to_day date) RETURNS integer
LANGUAGE sql AS $$ SELECT 0 $$;
