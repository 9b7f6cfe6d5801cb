-- Ingests stage their rows in a table of their own, committed in steps, and swap it in at
-- the end in one short transaction (src/store/staging.rs). A staging table whose process
-- died (same host) or whose heartbeat stopped (any host) is dropped when a store opens.
CREATE TABLE atlante_staging (
    table_name   text PRIMARY KEY,
    layer_id     text NOT NULL,
    host         text NOT NULL,
    pid          bigint NOT NULL,
    started_at   timestamptz NOT NULL,
    heartbeat_at timestamptz NOT NULL
);
