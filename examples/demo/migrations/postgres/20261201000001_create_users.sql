-- The demo application's own users. Recorded in the application's `_sqlx_migrations`
-- table; the token store keeps its migrations apart, in `_authtoken_migrations`.
-- An identity column: a deleted user's id is never given to a new user.
CREATE TABLE users (
    id            BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT        NOT NULL UNIQUE,
    password_hash TEXT        NOT NULL,
    is_active     BOOLEAN     NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);
