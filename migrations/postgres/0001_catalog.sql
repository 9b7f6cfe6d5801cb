-- Atlante catalog on PostGIS. Layer data lives in one table per layer version,
-- named {org}_{slug} (published) and {org}_{slug}__v{n} (kept previous versions).
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE atlante_orgs (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('metro', 'comune')),
    istat_code    text,
    catasto_code  text,
    zona_omogenea text,
    zona_code     text,
    bbox          jsonb,
    boundary      jsonb
);

CREATE TABLE atlante_layers (
    id              text PRIMARY KEY,
    org_id          text NOT NULL REFERENCES atlante_orgs(id),
    slug            text NOT NULL,
    title           text NOT NULL,
    description     text NOT NULL DEFAULT '',
    theme           text NOT NULL DEFAULT '',
    licence         text NOT NULL DEFAULT '',
    attribution     text NOT NULL DEFAULT '',
    visibility      text NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
    current_version integer NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, slug)
);

CREATE TABLE atlante_layer_versions (
    layer_id      text NOT NULL REFERENCES atlante_layers(id) ON DELETE CASCADE,
    version       integer NOT NULL,
    geom_type     text NOT NULL,
    feature_count bigint NOT NULL,
    extent        jsonb,
    fields        jsonb NOT NULL,
    source        jsonb NOT NULL,
    summary       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (layer_id, version)
);

CREATE TABLE atlante_tokens (
    hash       text PRIMARY KEY,
    org_id     text NOT NULL REFERENCES atlante_orgs(id),
    role       text NOT NULL CHECK (role IN ('editor', 'admin')),
    label      text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);
