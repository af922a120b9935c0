-- Multi-step campaigns (docs/DESIGN.md "Campaigns", Steps): after the
-- campaign's own message (step 0: its variants), step 1..N each follow the
-- recipient's previous step: delay_seconds after that message was sent
-- (or ended failed), if its condition holds on it then. Each later step is
-- a campaign_recipients row of its own (step = idx), written before it is
-- queued: the UNIQUE (campaign_id, step, contact_id) that already exists
-- keeps a step from being sent twice.
CREATE TABLE campaign_steps (
    campaign_id     BIGINT NOT NULL,
    idx             INT NOT NULL,                -- 1..N: the recipients' step
    channel         ENUM('sms','whatsapp','email') NOT NULL,
    template_id     BIGINT NULL,
    proto           MEDIUMTEXT NOT NULL,         -- as campaign_variants.proto
    delay_seconds   INT NOT NULL,
    step_condition  ENUM('always','not_delivered','not_read','not_replied')
                    NOT NULL DEFAULT 'always',
    PRIMARY KEY (campaign_id, idx),
    CONSTRAINT fk_campaign_steps_campaign FOREIGN KEY (campaign_id)
        REFERENCES campaigns (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- the dispatcher looks for a step's rows whose next step is not written
ALTER TABLE campaign_recipients
    ADD KEY idx_campaign_recipients_step (campaign_id, step, state, contact_id);

-- quiet_hours may name the zone of contacts without one:
-- {"start":"21:00","end":"08:00","timezone":"America/Argentina/Buenos_Aires"}
ALTER TABLE campaigns MODIFY quiet_hours VARCHAR(160) NULL;

-- bumped by each PATCH: a dispatcher that holds the campaign (a pause, a
-- PATCH and a resume may fall between two of its turns) sets it up again
-- from the row (variants, steps, quiet hours, rate, variables)
ALTER TABLE campaigns ADD COLUMN revision INT NOT NULL DEFAULT 0;
