-- Tokens get a public id (the first 12 hex digits of their hash), an optional expiry,
-- revocation and the time of their last use. Existing tokens do not expire.
ALTER TABLE atlante_tokens ADD COLUMN id text;
UPDATE atlante_tokens SET id = substr(hash, 1, 12);
ALTER TABLE atlante_tokens ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX atlante_tokens_id ON atlante_tokens (id);
ALTER TABLE atlante_tokens
    ADD COLUMN expires_at   timestamptz,
    ADD COLUMN revoked_at   timestamptz,
    ADD COLUMN last_used_at timestamptz;

-- Layers: a link for the attribution (rendered by Atlante, never taken as HTML); the
-- sequence numbers of the last change and of the last data change (change log below).
-- Existing layers keep their visibility; new ones are drafts until their owner publishes.
ALTER TABLE atlante_layers
    ADD COLUMN attribution_url text NOT NULL DEFAULT '',
    ADD COLUMN change_seq bigint NOT NULL DEFAULT 0,
    ADD COLUMN data_seq   bigint NOT NULL DEFAULT 0,
    ALTER COLUMN visibility SET DEFAULT 'private';

-- The durable change log (src/store/changes.rs).
CREATE TABLE atlante_changes (
    seq      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL,
    layer_id text NOT NULL,
    kind     text NOT NULL,
    version  bigint,
    detail   jsonb NOT NULL DEFAULT '{}'
);

-- The audit log: who wrote what, when, and the outcome.
CREATE TABLE atlante_audit (
    seq       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL,
    actor     text NOT NULL,
    actor_org text,
    action    text NOT NULL,
    org       text,
    target    text NOT NULL DEFAULT '',
    outcome   text NOT NULL,
    status    bigint,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX atlante_audit_org ON atlante_audit (org, seq);
CREATE INDEX atlante_audit_actor_org ON atlante_audit (actor_org, seq);
