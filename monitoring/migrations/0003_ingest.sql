-- What the ingest keeps besides readings: refused input, and the queue of series that changed.

-- Everything the ingest could not store, verbatim. A whole refused message has reading_index
-- NULL; a refused reading inside a good batch has its position in the batch. A message redelivered
-- after a crash hashes the same and is not stored twice.
CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at     timestamptz NOT NULL DEFAULT now(),
    topic           text NOT NULL,
    gateway_id      text,
    batch_id        text,
    reading_index   integer,
    reason          text NOT NULL,
    detail          text NOT NULL,
    raw             bytea NOT NULL,
    message_sha256  bytea NOT NULL,
    UNIQUE NULLS NOT DISTINCT (message_sha256, reading_index)
);
CREATE INDEX dead_letters_received ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at DESC);

-- A durable work queue between the ingest and the analytics/alert evaluators: the ingest marks
-- (patient, metric) as changed in the same transaction as the readings, evaluators claim rows
-- with FOR UPDATE SKIP LOCKED and delete them in the transaction that records their result.
-- NOTIFY 'readings_changed' only wakes them; the rows are the truth.
CREATE TABLE pending_evaluations (
    patient_id  bigint NOT NULL,
    metric      text NOT NULL,
    -- Earliest reading time touched since the last evaluation: late data re-opens old windows.
    since_ts    timestamptz NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, metric)
);
