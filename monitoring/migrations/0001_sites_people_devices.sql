-- Sites (community hospitals), their staff, doctors' panels, patients, gateways, devices and
-- the periods during which a device belongs to a patient.

CREATE TABLE sites (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    name        text NOT NULL,
    -- Schedules are computed in the site's zone; all stored times are UTC.
    timezone    text NOT NULL DEFAULT 'Asia/Shanghai',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id        bigint REFERENCES sites (id),
    username       text NOT NULL UNIQUE,
    display_name   text NOT NULL,
    -- doctor/nurse: see patients of their panels; site_admin: every patient of the site;
    -- operator: runs the service (dead letters, gateways), sees no clinical data.
    role           text NOT NULL CHECK (role IN ('doctor', 'nurse', 'site_admin', 'operator')),
    password_hash  text NOT NULL,
    active         boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE panels (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id  bigint NOT NULL REFERENCES sites (id),
    name     text NOT NULL,
    UNIQUE (site_id, name)
);

CREATE TABLE panel_members (
    panel_id  bigint NOT NULL REFERENCES panels (id) ON DELETE CASCADE,
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (panel_id, user_id)
);
CREATE INDEX panel_members_user ON panel_members (user_id);

CREATE TABLE patients (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id       bigint NOT NULL REFERENCES sites (id),
    panel_id      bigint REFERENCES panels (id),
    -- The hospital's medical record number; unique within a site.
    mrn           text NOT NULL,
    display_name  text NOT NULL,
    birth_date    date,
    sex           text CHECK (sex IN ('female', 'male', 'other', 'unknown')),
    conditions    text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (site_id, mrn)
);
CREATE INDEX patients_panel ON patients (panel_id);

-- Patient-specific targets a rule compares against (e.g. SpO2 floor 88 % for COPD).
CREATE TABLE patient_targets (
    patient_id  bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
    metric      text NOT NULL,
    low         double precision,
    high        double precision,
    note        text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (patient_id, metric),
    CHECK (low IS NULL OR high IS NULL OR low < high)
);

CREATE TABLE gateways (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    site_id        bigint NOT NULL REFERENCES sites (id),
    label          text,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    last_seen_at   timestamptz,
    status         text NOT NULL DEFAULT 'unknown',
    status_detail  jsonb NOT NULL DEFAULT '{}'
);

CREATE TABLE devices (
    id             text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$'),
    site_id        bigint NOT NULL REFERENCES sites (id),
    kind           text NOT NULL,
    model          text,
    -- The home gateway that reads it; NULL for a Wi-Fi device publishing on its own.
    gateway_id     text REFERENCES gateways (id),
    registered_at  timestamptz NOT NULL DEFAULT now()
);

-- Which patient a device's readings belong to, over time. A device lent to one patient and later
-- to another keeps both periods, so late readings land on the right patient.
CREATE TABLE device_assignments (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id   text NOT NULL REFERENCES devices (id),
    patient_id  bigint NOT NULL REFERENCES patients (id),
    valid_from  timestamptz NOT NULL,
    valid_to    timestamptz,
    CHECK (valid_to IS NULL OR valid_to > valid_from)
);
CREATE INDEX device_assignments_device ON device_assignments (device_id, valid_from);
CREATE INDEX device_assignments_patient ON device_assignments (patient_id);

-- Periods of one device must not overlap. An exclusion constraint would need btree_gist, which
-- the embedded PostgreSQL of `homeward demo` does not ship; the trigger locks the device row so
-- two concurrent assignments cannot both pass the check.
CREATE FUNCTION homeward_check_assignment_overlap() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM devices WHERE id = NEW.device_id FOR UPDATE;
    IF EXISTS (
        SELECT 1 FROM device_assignments a
        WHERE a.device_id = NEW.device_id
          AND a.id <> NEW.id
          AND tstzrange(a.valid_from, a.valid_to) && tstzrange(NEW.valid_from, NEW.valid_to)
    ) THEN
        RAISE EXCEPTION 'device % is already assigned during [%, %)',
            NEW.device_id, NEW.valid_from, coalesce(NEW.valid_to::text, 'open')
            USING ERRCODE = 'exclusion_violation';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER device_assignments_no_overlap
    BEFORE INSERT OR UPDATE ON device_assignments
    FOR EACH ROW EXECUTE FUNCTION homeward_check_assignment_overlap();
