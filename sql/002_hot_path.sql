-- Hot-path indexes (see docs/DESIGN.md, "The ledger" and "Webhook events").
--
-- Every message is written four times by the sender (claim insert, provider
-- result, "sent" and "delivered" callbacks) and every secondary index whose
-- key changes is rewritten each time. Nothing queries messages by recipient,
-- sender, creation time or status (the API reads by id, batch_id and
-- (provider, provider_message_id); the admin console goes through the API),
-- so those four indexes only cost writes: status alone changed index entries
-- three times per message. Add an index back together with the query that
-- needs it.
ALTER TABLE messages
    DROP INDEX ix_messages_to,
    DROP INDEX ix_messages_from,
    DROP INDEX ix_messages_status,
    DROP INDEX ix_messages_created;

-- The dedup key is a sha256 hex digest: ASCII with binary comparison is
-- enough, and makes its unique index smaller and cheaper to compare than
-- utf8mb4 with a collation (one insert per callback).
ALTER TABLE message_events
    MODIFY dedup_key CHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL;
