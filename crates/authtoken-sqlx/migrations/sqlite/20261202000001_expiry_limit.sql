-- authtoken: each token's expiry limit, the latest its expiry can ever be. Sliding
-- expiry moves `expires_at` up to it; nothing raises it. Tokens issued before have
-- the limit of their current expiry (they stop sliding).
ALTER TABLE authtoken_tokens ADD COLUMN expiry_limit INTEGER;
UPDATE authtoken_tokens SET expiry_limit = expires_at;
