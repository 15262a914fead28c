-- The demo application's own users, on MySQL 8 or MariaDB 10.6 and later. Recorded in
-- the application's `_sqlx_migrations` table; the token store keeps its migrations
-- apart, in `_authtoken_migrations`.
-- AUTO_INCREMENT: a deleted user's id is never given to a new user (InnoDB keeps the
-- counter across restarts since MySQL 8 and MariaDB 10.2.4).
-- Usernames (NFC, at most 150 characters: MAX_USERNAME_CHARS) compare exactly, as on
-- SQLite and PostgreSQL: a binary collation, so that case and accents count, and one
-- that does not pad, so that "ada" and "ada " are two names. MariaDB names it
-- utf8mb4_nopad_bin, MySQL 8 utf8mb4_0900_bin (utf8mb4_bin pads on both), hence the
-- statement built for the server it runs on.
SET @authtoken_demo_collation =
    IF(VERSION() LIKE '%MariaDB%', 'utf8mb4_nopad_bin', 'utf8mb4_0900_bin');
SET @authtoken_demo_users = CONCAT(
    'CREATE TABLE users (
        id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
        username      VARCHAR(150) CHARACTER SET utf8mb4 COLLATE ',
        @authtoken_demo_collation, ' NOT NULL,
        password_hash VARCHAR(255) CHARACTER SET utf8mb4 NOT NULL,
        is_active     BOOLEAN      NOT NULL DEFAULT TRUE,
        created_at    DATETIME(6)  NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
        UNIQUE KEY users_username_key (username)
    ) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4');
PREPARE authtoken_demo_create_users FROM @authtoken_demo_users;
EXECUTE authtoken_demo_create_users;
DEALLOCATE PREPARE authtoken_demo_create_users;
