-- Compact audit rows (docs/DESIGN.md, "Webhook events → MySQL").
--
-- A plain status callback (Twilio sms_status/whatsapp_status for a known
-- message, without an error code or an opt-out) is stored as its parsed
-- fields only: status, error code and message, price, price unit, segments
-- and the provider's message id; payload stays NULL. Every other event
-- (errors, unknown messages, inbound messages, opt-outs, Meta, SendGrid,
-- unreadable bodies) keeps the raw verified body as before. The raw body
-- was most of each audit row: two per message, ~250 bytes each, written
-- (and redo-logged) on the hottest path.
ALTER TABLE message_events
    MODIFY payload MEDIUMTEXT NULL,
    ADD COLUMN error_message VARCHAR(255) NULL AFTER error_code,
    ADD COLUMN price         DECIMAL(12,5) NULL AFTER error_message,
    ADD COLUMN price_unit    VARCHAR(8) NULL AFTER price,
    ADD COLUMN num_segments  INT NULL AFTER price_unit;
