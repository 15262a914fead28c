-- authtoken: one row a token. Only the digest of a token is stored, never the token.
CREATE TABLE authtoken_tokens (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    digest BLOB NOT NULL,
    key_version INTEGER NOT NULL DEFAULT 0,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    scopes TEXT NOT NULL DEFAULT '',
    -- Times are unix microseconds (UTC).
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER
);

CREATE UNIQUE INDEX authtoken_tokens_digest_key ON authtoken_tokens (digest);
CREATE INDEX authtoken_tokens_user_id_idx ON authtoken_tokens (user_id);
CREATE INDEX authtoken_tokens_expires_at_idx ON authtoken_tokens (expires_at);
