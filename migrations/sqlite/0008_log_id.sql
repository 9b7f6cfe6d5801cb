-- The change log's identity. Tile indexes persisted on a server's disk name the log they
-- follow, so a store that is replaced (a new demo, a restored backup) never reuses them.
CREATE TABLE atlante_log_id (id TEXT NOT NULL);
INSERT INTO atlante_log_id VALUES (lower(hex(randomblob(16))));
