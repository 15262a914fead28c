-- authtoken: each token's hint, a few characters that identify it to a person
-- without revealing it (the prefix's end, `_` and the last four checksum characters,
-- at most 8 in all). Tokens issued before, and imported ones, have none.
ALTER TABLE authtoken_tokens ADD COLUMN hint VARCHAR(16) NOT NULL DEFAULT '';
