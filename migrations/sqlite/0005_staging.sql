-- Ingests stage their rows in a table of their own, committed in steps, and swap it in at
-- the end in one short transaction (src/store/staging.rs). A staging table whose process
-- died is dropped when a store opens.
CREATE TABLE atlante_staging (
    table_name   TEXT PRIMARY KEY,
    layer_id     TEXT NOT NULL,
    host         TEXT NOT NULL,
    pid          INTEGER NOT NULL,
    started_at   TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
