-- Tile indexes and caches are keyed by a layer's version and the change that made its
-- data base (publish, rollback, restore); feature edits move data_seq only, and are
-- applied to an index in place (src/tiles/mod.rs).
ALTER TABLE atlante_layers ADD COLUMN base_seq INTEGER NOT NULL DEFAULT 0;
UPDATE atlante_layers SET base_seq = data_seq;
-- A layer's changes since a point, read by the tile engine to catch an index up.
CREATE INDEX atlante_changes_layer ON atlante_changes (layer_id, seq);
