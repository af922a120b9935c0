-- Message templates: text with {{variable}} placeholders, one channel each.
--
-- A name is unique per channel (the 409 template_exists of POST and PATCH
-- comes from this key). WhatsApp templates may instead point at a provider
-- template: content_sid (Twilio Content API, HX + 32 hex) or provider_name
-- (a Meta template, with its language); then body may be empty. Listings
-- page by id (keyset); the channel key serves ?channel= in id order.
CREATE TABLE message_templates (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    channel        ENUM('sms','whatsapp','email') NOT NULL,
    name           VARCHAR(128) NOT NULL,
    language       VARCHAR(35) CHARACTER SET ascii NULL,
    subject        VARCHAR(998) NULL,
    body           MEDIUMTEXT NOT NULL,
    html           MEDIUMTEXT NULL,
    content_sid    VARCHAR(34) CHARACTER SET ascii NULL,
    provider_name  VARCHAR(512) CHARACTER SET ascii NULL,
    created_at     DATETIME(3) NOT NULL,
    updated_at     DATETIME(3) NOT NULL,
    UNIQUE KEY uq_message_templates_channel_name (channel, name),
    KEY idx_message_templates_channel (channel, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
