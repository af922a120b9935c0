-- Users, roles and the audit log (docs/DESIGN.md "Users, roles and audit").
-- Every user that exists before this migration was an administrator (the
-- only kind there was), so existing rows become 'admin'; a row inserted
-- without a role afterwards gets the least: 'viewer'.
ALTER TABLE admin_users
    ADD COLUMN role ENUM('viewer','operator','admin') NOT NULL DEFAULT 'admin',
    ADD COLUMN last_login_at DATETIME(3) NULL,
    -- the latest lockout of this username from some address (login_limit.c
    -- keeps the per-address locks in Redis); shown to admins, cleared by
    -- POST /api/admin/users/{id}/enable
    ADD COLUMN locked_until DATETIME(3) NULL;

ALTER TABLE admin_users
    MODIFY COLUMN role ENUM('viewer','operator','admin') NOT NULL
        DEFAULT 'viewer';

-- one row per successful write through /api/ and per login, failed login
-- and logout: who, when, which route, which {id}, the answer, the address.
-- Never a body, a password or a token.
CREATE TABLE audit_log (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    at           DATETIME(3) NOT NULL,
    actor_kind   ENUM('user','key','anonymous') NOT NULL,
    actor_id     BIGINT NULL,          -- admin_users.id or api_keys.id
    actor_name   VARCHAR(255) NULL,    -- username or key name at the time
    action       VARCHAR(160) NOT NULL, -- "POST /api/campaigns/{id}/start", "login"
    target       VARCHAR(255) NULL,    -- the {id} segment
    status       SMALLINT NOT NULL,
    ip           VARCHAR(64) NOT NULL,
    KEY ix_audit_log_actor (actor_kind, actor_id, id),
    KEY ix_audit_log_action (action, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
