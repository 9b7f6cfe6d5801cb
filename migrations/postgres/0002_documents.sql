-- Saved JSON documents owned by an organisation: layer styles (kind 'style', key = layer id)
-- and app configurations (kind 'app', key = '{org}/{slug}').
CREATE TABLE IF NOT EXISTS atlante_documents (
    kind       text NOT NULL,
    key        text NOT NULL,
    org        text NOT NULL,
    body       jsonb NOT NULL,
    published  boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS atlante_documents_org ON atlante_documents (kind, org);
