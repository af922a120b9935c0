-- Opt-outs per channel and a blacklist, both consulted by the sender's
-- claim before any provider call.
--
-- opt_outs.channel: '' = every channel (what every existing row meant),
-- else 'sms', 'whatsapp' or 'email'. Not NULL for "all": a UNIQUE key
-- admits any number of NULLs, so (address, NULL) could be stored twice and
-- the writers' INSERT IGNORE would stop being idempotent. Those writers
-- (STOP/21610/SendGrid) name no channel and so keep inserting ''.
ALTER TABLE opt_outs
    ADD COLUMN channel VARCHAR(16) CHARACTER SET ascii NOT NULL DEFAULT ''
        AFTER address,
    DROP INDEX uq_opt_outs_address,
    ADD UNIQUE KEY uq_opt_outs_address_channel (address, channel);

-- an address (+E164 or lower-cased e-mail) that gets nothing on any channel
CREATE TABLE blacklist (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    address     VARCHAR(255) NOT NULL,
    reason      VARCHAR(255) NULL,
    created_at  DATETIME(3) NOT NULL,
    UNIQUE KEY uq_blacklist_address (address)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
