-- Initial schema. Applied once by `broadcastctl migrate`, which records the
-- version in schema_migrations. All times are UTC DATETIME(3).

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INT NOT NULL PRIMARY KEY,
    applied_at  DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE admin_users (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username       VARCHAR(64) NOT NULL,
    password_hash  VARCHAR(255) NOT NULL,   -- argon2id encoded string
    created_at     DATETIME(3) NOT NULL,
    disabled_at    DATETIME(3) NULL,
    UNIQUE KEY uq_admin_users_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE admin_sessions (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    token_hash     CHAR(64) NOT NULL,       -- sha256 hex of the raw token
    admin_user_id  BIGINT NOT NULL,
    created_at     DATETIME(3) NOT NULL,
    expires_at     DATETIME(3) NOT NULL,
    UNIQUE KEY uq_admin_sessions_token (token_hash),
    KEY ix_admin_sessions_user (admin_user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE api_keys (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name           VARCHAR(255) NOT NULL DEFAULT '',
    prefix         VARCHAR(16) NOT NULL,
    key_hash       CHAR(64) NOT NULL,       -- sha256 hex of the raw key
    admin_user_id  BIGINT NULL,
    scope          ENUM('read','send','manage') NOT NULL DEFAULT 'send',
    expires_at     DATETIME(3) NULL,
    created_at     DATETIME(3) NOT NULL,
    last_used_at   DATETIME(3) NULL,
    revoked_at     DATETIME(3) NULL,
    UNIQUE KEY uq_api_keys_hash (key_hash),
    KEY ix_api_keys_user (admin_user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE messages (
    id                     CHAR(26) NOT NULL PRIMARY KEY,
    batch_id               CHAR(26) NOT NULL,
    channel                VARCHAR(16) NOT NULL,
    direction              VARCHAR(16) NOT NULL DEFAULT 'outbound',
    provider               VARCHAR(16) NOT NULL,
    to_address             VARCHAR(255) NOT NULL,
    from_address           VARCHAR(255) NOT NULL,
    messaging_service_sid  VARCHAR(64) NULL,
    subject                VARCHAR(255) NULL,
    body                   MEDIUMTEXT NULL,
    status                 VARCHAR(32) NOT NULL,
    status_rank            TINYINT UNSIGNED NOT NULL,
    provider_message_id    VARCHAR(128) NULL,
    send_state             ENUM('pending','calling','done','unknown')
                           NOT NULL DEFAULT 'pending',
    attempts               INT NOT NULL DEFAULT 0,
    error_code             VARCHAR(32) NULL,
    error_message          TEXT NULL,
    price                  DECIMAL(12,5) NULL,
    price_unit             VARCHAR(8) NULL,
    num_segments           INT NULL,
    api_key_id             BIGINT NULL,
    created_at             DATETIME(3) NOT NULL,
    updated_at             DATETIME(3) NOT NULL,
    sent_at                DATETIME(3) NULL,
    delivered_at           DATETIME(3) NULL,
    read_at                DATETIME(3) NULL,
    UNIQUE KEY uq_messages_provider_id (provider, provider_message_id),
    KEY ix_messages_batch (batch_id),
    KEY ix_messages_to (to_address, created_at),
    KEY ix_messages_from (from_address, created_at),
    KEY ix_messages_status (status),
    KEY ix_messages_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE message_events (
    id                   BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    dedup_key            CHAR(64) NOT NULL,       -- sha256 hex
    message_id           CHAR(26) NULL,           -- NULL: unknown message
    provider             VARCHAR(16) NOT NULL,
    kind                 VARCHAR(32) NOT NULL,    -- sms_status, ...
    provider_message_id  VARCHAR(128) NULL,
    status               VARCHAR(32) NULL,
    error_code           VARCHAR(32) NULL,
    payload              MEDIUMTEXT NOT NULL,     -- the raw verified body
    received_at          DATETIME(3) NOT NULL,
    UNIQUE KEY uq_message_events_dedup (dedup_key),
    KEY ix_message_events_message (message_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE opt_outs (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    address     VARCHAR(255) NOT NULL,           -- E.164 phone
    reason      VARCHAR(255) NULL,
    source      VARCHAR(32) NOT NULL,            -- api, twilio_21610, sms_inbound
    created_at  DATETIME(3) NOT NULL,
    UNIQUE KEY uq_opt_outs_address (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
