-- The publication log (issue 14): each logged change also records the layer as it stood
-- after it — owner, visibility, title, feature count and, but for feature edits, its
-- description — so a layer's history and the yearly publishing figures outlive both the
-- pruning of old versions and the layer itself. Rows logged before this migration get
-- what the layer row says now.
ALTER TABLE atlante_changes ADD COLUMN org_id TEXT;
ALTER TABLE atlante_changes ADD COLUMN visibility TEXT;
ALTER TABLE atlante_changes ADD COLUMN title TEXT;
ALTER TABLE atlante_changes ADD COLUMN feature_count INTEGER;
ALTER TABLE atlante_changes ADD COLUMN description TEXT;
ALTER TABLE atlante_changes ADD COLUMN licence TEXT;
ALTER TABLE atlante_changes ADD COLUMN attribution TEXT;
ALTER TABLE atlante_changes ADD COLUMN metadata TEXT;
UPDATE atlante_changes SET
    org_id = (SELECT l.org_id FROM atlante_layers l WHERE l.id = atlante_changes.layer_id),
    visibility = (SELECT l.visibility FROM atlante_layers l WHERE l.id = atlante_changes.layer_id),
    title = (SELECT l.title FROM atlante_layers l WHERE l.id = atlante_changes.layer_id);

-- Downloads per dataset, per day and format: the publishing dashboard's figures.
CREATE TABLE atlante_downloads (
    layer_id TEXT NOT NULL,
    day      TEXT NOT NULL,
    format   TEXT NOT NULL,
    n        INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (layer_id, day, format)
);
