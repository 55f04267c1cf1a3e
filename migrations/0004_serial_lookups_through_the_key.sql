-- Version 4: a serial number alone (a scan, a registration) is found through the serial + manufacturer
-- key, which begins with the normalised serial number and a unit separator (U+001F), instead of an index
-- of its own: keeping that second index of every serial number cost a third of the devices table's
-- writing time in a 200,000-row import. The key compares byte by byte (collation "C"), so that a range
-- from "SERIAL\x1f" to "SERIAL\x20" is exactly the keys of that serial number, whatever the database's
-- collation. Only a device with a serial number and no manufacturer (no key) keeps an index entry of its
-- own.
DROP INDEX devices_serial;
ALTER TABLE devices ALTER COLUMN serial_key TYPE text COLLATE "C";
CREATE INDEX devices_serial_alone ON devices (upper(btrim(serial))) WHERE serial IS NOT NULL AND serial_key IS NULL;
