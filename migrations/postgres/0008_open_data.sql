-- Open data (issue 14): a layer's catalogue description beyond title and licence (JSON,
-- see model::OpenMeta), when its data last changed (a publish, rollback or feature edit:
-- the catalogues' modification date, which a metadata edit does not move), and an
-- organisation's IPA code (when not the usual one) and contact e-mail.
ALTER TABLE atlante_layers ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}';
ALTER TABLE atlante_layers ADD COLUMN data_updated_at timestamptz;
UPDATE atlante_layers SET data_updated_at = updated_at;
ALTER TABLE atlante_orgs ADD COLUMN ipa_code text;
ALTER TABLE atlante_orgs ADD COLUMN email text;
