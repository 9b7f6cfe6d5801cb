-- Tokens get a public id (the first 12 hex digits of their hash), an optional expiry,
-- revocation and the time of their last use. Existing tokens do not expire.
ALTER TABLE atlante_tokens ADD COLUMN id TEXT;
UPDATE atlante_tokens SET id = substr(hash, 1, 12);
CREATE UNIQUE INDEX atlante_tokens_id ON atlante_tokens (id);
ALTER TABLE atlante_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE atlante_tokens ADD COLUMN revoked_at TEXT;
ALTER TABLE atlante_tokens ADD COLUMN last_used_at TEXT;

-- Layers: a link for the attribution (rendered by Atlante, never taken as HTML); the
-- sequence numbers of the last change and of the last data change (change log below).
-- Existing layers keep their visibility; new ones are written as drafts by the store.
ALTER TABLE atlante_layers ADD COLUMN attribution_url TEXT NOT NULL DEFAULT '';
ALTER TABLE atlante_layers ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE atlante_layers ADD COLUMN data_seq INTEGER NOT NULL DEFAULT 0;

-- The durable change log (src/store/changes.rs).
CREATE TABLE atlante_changes (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    layer_id TEXT NOT NULL,
    kind     TEXT NOT NULL,
    version  INTEGER,
    detail   TEXT NOT NULL DEFAULT '{}'
);

-- The audit log: who wrote what, when, and the outcome.
CREATE TABLE atlante_audit (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    actor_org TEXT,
    action    TEXT NOT NULL,
    org       TEXT,
    target    TEXT NOT NULL DEFAULT '',
    outcome   TEXT NOT NULL,
    status    INTEGER,
    detail    TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX atlante_audit_org ON atlante_audit (org, seq);
CREATE INDEX atlante_audit_actor_org ON atlante_audit (actor_org, seq);
