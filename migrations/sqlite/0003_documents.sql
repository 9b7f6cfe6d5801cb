-- Saved JSON documents owned by an organisation: layer styles (kind 'style', key = layer id)
-- and app configurations (kind 'app', key = '{org}/{slug}').
CREATE TABLE IF NOT EXISTS atlante_documents (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    org        TEXT NOT NULL,
    body       TEXT NOT NULL,
    published  INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS atlante_documents_org ON atlante_documents (kind, org);
