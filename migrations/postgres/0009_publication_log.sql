-- The publication log (issue 14): each logged change also records the layer as it stood
-- after it — owner, visibility, title, feature count and, but for feature edits, its
-- description — so a layer's history and the yearly publishing figures outlive both the
-- pruning of old versions and the layer itself. Rows logged before this migration get
-- what the layer row says now.
ALTER TABLE atlante_changes
    ADD COLUMN org_id text,
    ADD COLUMN visibility text,
    ADD COLUMN title text,
    ADD COLUMN feature_count bigint,
    ADD COLUMN description text,
    ADD COLUMN licence text,
    ADD COLUMN attribution text,
    ADD COLUMN metadata jsonb;
UPDATE atlante_changes c SET org_id = l.org_id, visibility = l.visibility, title = l.title
    FROM atlante_layers l WHERE l.id = c.layer_id;

-- Downloads per dataset, per day and format: the publishing dashboard's figures.
CREATE TABLE atlante_downloads (
    layer_id text NOT NULL,
    day      text NOT NULL,
    format   text NOT NULL,
    n        bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (layer_id, day, format)
);
