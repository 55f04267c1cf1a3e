-- Version 2: a device's status time (kitted, registered) to the nanosecond. timestamptz keeps
-- microseconds; kitting stores a registration's time as the clock gave it, like its other stores.
ALTER TABLE devices ADD COLUMN status_ns bigint;
UPDATE devices SET status_ns = (extract(epoch FROM status_at) * 1000000)::bigint * 1000
    WHERE status_at IS NOT NULL;
ALTER TABLE devices DROP COLUMN status_at;
