-- Campaigns: a template or content to an audience, dispatched by the
-- sender daemon one recipient record at a time.
--
-- The guarantee "never the same step twice to one recipient" rests on
-- campaign_recipients: one row per (campaign, step, contact), UNIQUE, with
-- its message id fixed when the row is written and before anything is
-- queued. Queuing bumps queue_seq (a fencing token carried by the job); the
-- sender's claim sends a campaign job only while its row is still 'queued'
-- with that seq and the campaign 'running', so a stale or duplicated stream
-- entry (a dispatcher that lost its lease, a pause, a crash between a
-- commit and an XACK) is dropped instead of sent. The ledger (messages,
-- by id) does the rest.
CREATE TABLE campaigns (
    id                    BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name                  VARCHAR(255) NOT NULL,
    channel               ENUM('sms','whatsapp','email') NOT NULL,
    status                ENUM('draft','scheduled','running','paused',
                               'completed','cancelled','failed')
                          NOT NULL DEFAULT 'draft',
    error                 VARCHAR(512) NULL,     -- why it failed
    batch_id              CHAR(26) CHARACTER SET ascii NOT NULL,  -- of every message
    template_id           BIGINT NULL,           -- the never-repeat key
    never_repeat_template TINYINT(1) NOT NULL DEFAULT 0,
    audience              MEDIUMTEXT NOT NULL,   -- the request's audience JSON
    audience_limit        BIGINT NULL,           -- at most this many recipients
    template_variables    MEDIUMTEXT NULL,       -- JSON object, below contact fields
    rate_per_second       INT NOT NULL DEFAULT 0,   -- 0 = no campaign limit
    quiet_hours           VARCHAR(64) NULL,      -- JSON {"start","end"}
    schedule_at           DATETIME(3) NULL,
    -- the dispatcher's state (sender): one dispatcher per campaign
    lease_owner           VARCHAR(64) CHARACTER SET ascii NULL,
    lease_until           DATETIME(3) NULL,
    fanout_cursor         BIGINT NOT NULL DEFAULT 0,  -- last contact id fanned out
    fanout_done           TINYINT(1) NOT NULL DEFAULT 0,
    recipients            BIGINT NOT NULL DEFAULT 0,  -- rows written, skipped included
    eligible              BIGINT NOT NULL DEFAULT 0,  -- rows not skipped (limit counts these)
    created_by            VARCHAR(64) NULL,
    created_at            DATETIME(3) NOT NULL,
    updated_at            DATETIME(3) NOT NULL,
    started_at            DATETIME(3) NULL,
    completed_at          DATETIME(3) NULL,
    KEY idx_campaigns_status (status, id),
    KEY idx_campaigns_template (template_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- What a variant sends: "proto" is the job without its recipient
-- (channel, provider, from, messaging_service_sid, body, extra), built and
-- validated by the module when the campaign is created or patched, with
-- {{variable}} placeholders left in body and in extra's strings. A campaign
-- without variants has one, named "default", weight 1.
CREATE TABLE campaign_variants (
    campaign_id  BIGINT NOT NULL,
    idx          INT NOT NULL,
    name         VARCHAR(64) NOT NULL,
    weight       INT NOT NULL DEFAULT 1,
    template_id  BIGINT NULL,
    proto        MEDIUMTEXT NOT NULL,
    PRIMARY KEY (campaign_id, idx),
    CONSTRAINT fk_campaign_variants_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- state: pending (written, not queued or returned by a pause), queued (in
-- the send stream; the messages row tells the rest), skipped (skip_reason,
-- no message), cancelled (the campaign was cancelled before it was sent).
CREATE TABLE campaign_recipients (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    campaign_id  BIGINT NOT NULL,
    step         INT NOT NULL DEFAULT 0,
    contact_id   BIGINT NOT NULL,
    variant      INT NOT NULL DEFAULT 0,
    address      VARCHAR(255) NULL,
    message_id   CHAR(26) CHARACTER SET ascii NOT NULL,
    state        ENUM('pending','queued','skipped','cancelled') NOT NULL,
    skip_reason  VARCHAR(32) CHARACTER SET ascii NULL,
    queue_seq    INT NOT NULL DEFAULT 0,
    attempts     INT NOT NULL DEFAULT 0,   -- retry-failed gives a new message id
    not_before   DATETIME(3) NULL,         -- quiet hours: not queued before
    created_at   DATETIME(3) NOT NULL,
    updated_at   DATETIME(3) NOT NULL,
    UNIQUE KEY uq_campaign_recipients (campaign_id, step, contact_id),
    UNIQUE KEY uq_campaign_recipients_message (message_id),
    KEY idx_campaign_recipients_state (campaign_id, state, id),
    CONSTRAINT fk_campaign_recipients_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Who has had a template (never_repeat_template): written by the fan-out in
-- the transaction of the recipient rows; a row belongs to the campaign that
-- inserted it first (INSERT IGNORE, then read back by campaign_id), so two
-- campaigns racing for one contact cannot both take it. A cancel removes
-- the rows of recipients that were never sent.
CREATE TABLE template_sends (
    template_id  BIGINT NOT NULL,
    contact_id   BIGINT NOT NULL,
    campaign_id  BIGINT NOT NULL,
    message_id   CHAR(26) CHARACTER SET ascii NOT NULL,
    created_at   DATETIME(3) NOT NULL,
    PRIMARY KEY (template_id, contact_id),
    KEY idx_template_sends_campaign (campaign_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
