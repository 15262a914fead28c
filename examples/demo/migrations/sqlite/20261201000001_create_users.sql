-- The demo application's own users. Recorded in the application's `_sqlx_migrations`
-- table; the token store keeps its migrations apart, in `_authtoken_migrations`.
-- AUTOINCREMENT: a deleted user's id is never given to a new user.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_active     INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL DEFAULT (unixepoch())
);
