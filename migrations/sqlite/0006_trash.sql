-- Deleting a layer moves it to the trash: it leaves the catalog, its tables stay until
-- `atlante layer restore` brings it back or the retention period (or --purge) ends it.
ALTER TABLE atlante_layers ADD COLUMN deleted_at TEXT;
