-- Channels and webhooks (docs/DESIGN.md): WhatsApp (Twilio, Meta)
-- and email (SendGrid) on the same messages table, inbound rows, senders.

ALTER TABLE messages
    ADD COLUMN peer                 VARCHAR(255) NULL AFTER from_address,
    ADD COLUMN provider_request_id  VARCHAR(128) NULL AFTER provider_message_id,
    ADD COLUMN payload              MEDIUMTEXT NULL AFTER body,
    ADD COLUMN pricing_category     VARCHAR(32) NULL AFTER price_unit;

-- peer: the conversation partner in one canonical form (+E164 for phone
-- channels, lower-cased address for email): to_address for outbound rows,
-- from_address for inbound ones.
UPDATE messages
   SET peer = LOWER(IF(direction = 'inbound',
                       IF(from_address LIKE 'whatsapp:%', SUBSTRING(from_address, 10), from_address),
                       IF(to_address LIKE 'whatsapp:%', SUBSTRING(to_address, 10), to_address)))
 WHERE peer IS NULL;

-- chat listings page by (peer, id): ids are ULIDs, so id order is time order
ALTER TABLE messages ADD KEY ix_messages_peer (peer, id);

CREATE TABLE whatsapp_senders (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    from_address  VARCHAR(255) NOT NULL,     -- whatsapp:+E164 or meta:<id>
    created_at    DATETIME(3) NOT NULL,
    UNIQUE KEY uq_whatsapp_senders_from (from_address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE email_senders (
    id            BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    from_email    VARCHAR(255) NOT NULL,     -- lower-cased
    from_name     VARCHAR(255) NULL,
    created_at    DATETIME(3) NOT NULL,
    UNIQUE KEY uq_email_senders_from (from_email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
