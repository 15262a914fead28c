-- authtoken: one row a token. Only the digest of a token is stored, never the token.
-- User ids are compared byte for byte (no collation, no trailing-space padding).
CREATE TABLE authtoken_tokens (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    digest BINARY(32) NOT NULL,
    key_version BIGINT NOT NULL DEFAULT 0,
    user_id VARBINARY(255) NOT NULL,
    name VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL DEFAULT '',
    scopes TEXT CHARACTER SET utf8mb4 NOT NULL,
    -- Times are UTC.
    created_at DATETIME(6) NOT NULL,
    expires_at DATETIME(6) NULL,
    last_used_at DATETIME(6) NULL,
    UNIQUE KEY authtoken_tokens_digest_key (digest),
    KEY authtoken_tokens_user_id_idx (user_id),
    KEY authtoken_tokens_expires_at_idx (expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- One row a user that was ever issued a token under a per-user limit: issuing locks
-- the user's row (SELECT ... FOR UPDATE) so that concurrent issues are counted one
-- after the other.
CREATE TABLE authtoken_user_locks (
    user_id VARBINARY(255) NOT NULL PRIMARY KEY
) ENGINE = InnoDB;
