-- An outcome's ratings are stored as json (the text, checked to be JSON), not jsonb. Nothing
-- queries inside them: they are written whole and read whole. jsonb parses every value it is
-- given into its binary form, which was a tenth of what PostgreSQL spent on a fresh import; COPY
-- of 92,000 outcome rows took 0.53-0.90 s with jsonb and 0.35-0.44 s with json. (Canvas keeps an
-- outcome's rubric as serialized text.)
ALTER TABLE learning_outcomes ALTER COLUMN ratings DROP DEFAULT;
ALTER TABLE learning_outcomes ALTER COLUMN ratings TYPE json USING ratings::json;
ALTER TABLE learning_outcomes ALTER COLUMN ratings SET DEFAULT '[]';
