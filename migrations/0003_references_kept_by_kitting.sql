-- Version 3: the references between devices, their IMEI rows and their profile are kept by kitting in the
-- same transactions that write them (and verified by `kitting check`), not by foreign keys: checking
-- them cost every imported row two trigger calls (about 40% of a 200,000-row import), and the IMEI
-- rows' key had no index of its own, so every device deleted scanned every IMEI row. The uniqueness
-- rules stay constraints. A serial number alone (a scan, a registration) is found through an index.
ALTER TABLE device_imeis DROP CONSTRAINT device_imeis_profile_seq_fkey;
ALTER TABLE devices DROP CONSTRAINT devices_profile_fkey;
CREATE INDEX devices_serial ON devices (upper(btrim(serial))) WHERE serial IS NOT NULL;
