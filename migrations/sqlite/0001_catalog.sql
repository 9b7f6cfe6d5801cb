-- Atlante embedded store: a valid GeoPackage 1.3 (OGC 12-128r18) plus Atlante's catalog tables.
-- Layer data lives in one feature table per layer version; only published versions are
-- registered in gpkg_contents, so GDAL and QGIS list exactly the published layers.
PRAGMA application_id = 1196444487;
PRAGMA user_version = 10300;

CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
    srs_name                 TEXT NOT NULL,
    srs_id                   INTEGER NOT NULL PRIMARY KEY,
    organization             TEXT NOT NULL,
    organization_coordsys_id INTEGER NOT NULL,
    definition               TEXT NOT NULL,
    description              TEXT
);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
 ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
 ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system'),
 ('WGS 84 geodetic', 4326, 'EPSG', 4326,
  'GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],AUTHORITY["EPSG","4326"]]',
  'longitude/latitude coordinates in decimal degrees on the WGS 84 spheroid');

CREATE TABLE IF NOT EXISTS gpkg_contents (
    table_name  TEXT NOT NULL PRIMARY KEY,
    data_type   TEXT NOT NULL,
    identifier  TEXT UNIQUE,
    description TEXT DEFAULT '',
    last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE,
    srs_id INTEGER,
    CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id)
);

CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
    table_name         TEXT NOT NULL,
    column_name        TEXT NOT NULL,
    geometry_type_name TEXT NOT NULL,
    srs_id             INTEGER NOT NULL,
    z                  TINYINT NOT NULL,
    m                  TINYINT NOT NULL,
    CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
    CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
    CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id)
);

CREATE TABLE atlante_orgs (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('metro', 'comune')),
    istat_code    TEXT,
    catasto_code  TEXT,
    zona_omogenea TEXT,
    zona_code     TEXT,
    bbox          TEXT,
    boundary      TEXT
);

-- Registered as an attribute table: GDAL then lists only registered tables, so the catalog
-- and the kept previous versions stay out of the layer list.
INSERT INTO gpkg_contents (table_name, data_type, identifier, description)
VALUES ('atlante_orgs', 'attributes', 'atlante_orgs', 'Organisations: Città Metropolitana di Milano and its comuni');

CREATE TABLE atlante_layers (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES atlante_orgs(id),
    slug            TEXT NOT NULL,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL DEFAULT '',
    theme           TEXT NOT NULL DEFAULT '',
    licence         TEXT NOT NULL DEFAULT '',
    attribution     TEXT NOT NULL DEFAULT '',
    visibility      TEXT NOT NULL DEFAULT 'public' CHECK (visibility IN ('public', 'private')),
    current_version INTEGER NOT NULL,
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    UNIQUE (org_id, slug)
);

CREATE TABLE atlante_layer_versions (
    layer_id      TEXT NOT NULL REFERENCES atlante_layers(id) ON DELETE CASCADE,
    version       INTEGER NOT NULL,
    geom_type     TEXT NOT NULL,
    feature_count INTEGER NOT NULL,
    extent        TEXT,
    fields        TEXT NOT NULL,
    source        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
    PRIMARY KEY (layer_id, version)
);

CREATE TABLE atlante_tokens (
    hash       TEXT PRIMARY KEY,
    org_id     TEXT NOT NULL REFERENCES atlante_orgs(id),
    role       TEXT NOT NULL CHECK (role IN ('editor', 'admin')),
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
