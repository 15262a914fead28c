-- authtoken: each token's expiry limit, the latest its expiry can ever be. Sliding
-- expiry moves `expires_at` up to it; nothing raises it. Tokens issued before have
-- the limit of their current expiry (they stop sliding).
ALTER TABLE authtoken_tokens ADD COLUMN expiry_limit TIMESTAMPTZ;
UPDATE authtoken_tokens SET expiry_limit = expires_at;

-- A limit brought forward (a rotation's grace period) is announced like an expiry
-- brought forward: a node that cached the token must not slide it past the new limit.
CREATE OR REPLACE FUNCTION authtoken_notify_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE'
        OR OLD.digest <> NEW.digest
        OR (NEW.expires_at IS NOT NULL
            AND (OLD.expires_at IS NULL OR NEW.expires_at < OLD.expires_at))
        OR (NEW.expiry_limit IS NOT NULL
            AND (OLD.expiry_limit IS NULL OR NEW.expiry_limit < OLD.expiry_limit)) THEN
        PERFORM pg_notify('authtoken_revoked', encode(OLD.digest, 'hex'));
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER authtoken_tokens_revoked ON authtoken_tokens;
CREATE TRIGGER authtoken_tokens_revoked
    AFTER DELETE OR UPDATE OF digest, expires_at, expiry_limit ON authtoken_tokens
    FOR EACH ROW EXECUTE FUNCTION authtoken_notify_revoked();
