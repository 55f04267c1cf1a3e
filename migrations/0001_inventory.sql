-- kitting's PostgreSQL schema, version 1: the inventory of every site on one database.
-- Applied by kitting itself on first use, in one transaction with the version it records.
-- Every uniqueness rule of the store contract is a constraint here, so that two hosts cannot both win:
-- the keys (`*_key`) are computed by kitting with the same normalisation the embedded store uses
-- (trimmed; upper case for serial numbers and manufacturers, lower case for names and identifiers).

CREATE TABLE profiles (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    -- The profile name, trimmed and lower-cased: names are unique ignoring case.
    name_key    text NOT NULL UNIQUE,
    description text,
    kind        text NOT NULL,
    created     timestamptz NOT NULL,
    modified    timestamptz NOT NULL,
    username    text,
    -- The enrollment token and its expiry, and the Android configuration, as kitting encodes them (JSON).
    token       jsonb,
    config      jsonb NOT NULL,
    device_count bigint NOT NULL DEFAULT 0 CHECK (device_count >= 0),
    attributes  jsonb NOT NULL DEFAULT '[]',
    version     bigint NOT NULL DEFAULT 1,
    -- The next device number in this profile.
    next_seq    bigint NOT NULL DEFAULT 0
);
CREATE SEQUENCE profile_ids START 1 OWNED BY profiles.id;

CREATE TABLE devices (
    profile      integer NOT NULL REFERENCES profiles (id) ON DELETE CASCADE,
    seq          bigint NOT NULL,
    imei         bigint,
    imei2        bigint CHECK (imei2 IS NULL OR (imei IS NOT NULL AND imei2 <> imei)),
    serial       text,
    manufacturer text,
    -- Serial number and manufacturer, normalised: unique across every profile.
    serial_key   text UNIQUE,
    attributes   jsonb NOT NULL DEFAULT '[]',
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'kitted', 'registered')),
    status_at    timestamptz,
    source_file  text,
    source_line  bigint,
    created      timestamptz NOT NULL,
    modified     timestamptz NOT NULL,
    PRIMARY KEY (profile, seq),
    CHECK (imei IS NOT NULL OR serial_key IS NOT NULL)
);

-- Every IMEI a device has, first or second: one row each, so that no device may have another device's
-- first or second IMEI, in any profile.
CREATE TABLE device_imeis (
    imei    bigint PRIMARY KEY,
    profile integer NOT NULL,
    seq     bigint NOT NULL,
    FOREIGN KEY (profile, seq) REFERENCES devices (profile, seq) ON DELETE CASCADE
);

CREATE TABLE users (
    -- The username, trimmed and lower-cased: usernames are unique ignoring case.
    username_key  text PRIMARY KEY,
    username      text NOT NULL,
    name          text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    description   text NOT NULL DEFAULT '',
    organizations jsonb NOT NULL DEFAULT '[]'
);

CREATE TABLE catalog (
    kind        text NOT NULL CHECK (kind IN ('organization', 'template', 'tag')),
    name        text NOT NULL,
    description text,
    PRIMARY KEY (kind, name)
);

CREATE TABLE dep_devices (
    -- The identifier, trimmed and lower-cased: identifiers are unique ignoring case.
    identifier_key text PRIMARY KEY,
    -- The serial number of a checked-in record (normalised): checked in on one record only.
    checked_in_serial text,
    -- The record as kitting encodes it (JSON), its check-in code included.
    record   jsonb NOT NULL,
    modified timestamptz NOT NULL
);
CREATE UNIQUE INDEX dep_devices_checked_in_serial ON dep_devices (checked_in_serial)
    WHERE checked_in_serial IS NOT NULL;

CREATE TABLE mails (
    id      bigint PRIMARY KEY,
    mail    jsonb NOT NULL,
    written boolean NOT NULL DEFAULT false
);

-- The audit trail, written in the same transaction as the change it records.
CREATE TABLE audit (
    id    bigserial PRIMARY KEY,
    at    timestamptz NOT NULL,
    entry jsonb NOT NULL
);
CREATE INDEX audit_at ON audit (at);
