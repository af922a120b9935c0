-- Keyword auto-reply rules: an inbound SMS or WhatsApp text that matches an
-- enabled rule (case-insensitively) gets response_text back from the number
-- it was sent to, at most once per sender address per rule per window (the
-- sender's keyword_reply_window_s), never to an opted-out or blacklisted
-- address.
--
-- channel NULL: every channel. match_type regex: PCRE2, checked by the API
-- when written, run by the sender with a match limit. One rule per keyword,
-- match type and channel (case-insensitively, as rules match): channel_key
-- stands for channel in the UNIQUE key, which would admit any number of
-- NULLs.
CREATE TABLE keyword_rules (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    keyword        VARCHAR(255) NOT NULL,
    match_type     ENUM('exact','contains','regex') NOT NULL DEFAULT 'exact',
    channel        VARCHAR(16) CHARACTER SET ascii NULL,
    response_text  VARCHAR(1600) NOT NULL,
    enabled        TINYINT(1) NOT NULL DEFAULT 1,
    created_at     DATETIME(3) NOT NULL,
    updated_at     DATETIME(3) NOT NULL,
    channel_key    VARCHAR(16) CHARACTER SET ascii
                       AS (IFNULL(channel, '')) STORED,
    UNIQUE KEY uq_keyword_rules (keyword, match_type, channel_key),
    KEY ix_keyword_rules_enabled (enabled, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
