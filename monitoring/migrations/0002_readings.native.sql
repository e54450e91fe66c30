-- Readings on plain PostgreSQL: native range partitions, one per UTC day.
-- Same columns, primary key and query results as the TimescaleDB variant.

CREATE TABLE readings (
    ts           timestamptz NOT NULL,
    device_id    text NOT NULL,
    metric       text NOT NULL,
    seq          bigint NOT NULL,
    patient_id   bigint NOT NULL,
    -- In the metric's canonical unit; NULL only when a quality flag says why.
    value        double precision,
    unit         text NOT NULL,
    flags        text[] NOT NULL DEFAULT '{}',
    gateway_id   text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    -- The idempotency key of the MQTT contract; it includes ts, as partitioning requires.
    PRIMARY KEY (device_id, metric, seq, ts)
) PARTITION BY RANGE (ts);

-- No foreign keys on readings: the ingest resolves patient_id through device_assignments in the
-- same statement, and per-row FK checks would halve the write rate (docs/decisions/0002).
CREATE INDEX readings_patient_metric_ts ON readings (patient_id, metric, ts DESC);

-- Create the daily partitions covering [from_day, to_day] (UTC days) if missing. Safe to call
-- concurrently: an advisory lock serialises creators.
CREATE FUNCTION homeward_ensure_reading_partitions(from_day date, to_day date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    d date;
    created integer := 0;
    part text;
BEGIN
    IF to_day < from_day THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('homeward_reading_partitions'));
    d := from_day;
    WHILE d <= to_day LOOP
        part := format('readings_p%s', to_char(d, 'YYYYMMDD'));
        IF to_regclass(part) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF readings FOR VALUES FROM (%L) TO (%L)',
                part,
                (d::timestamp AT TIME ZONE 'UTC'),
                ((d + 1)::timestamp AT TIME ZONE 'UTC'));
            created := created + 1;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;
