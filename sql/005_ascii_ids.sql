-- Message and batch ids are ULIDs (Crockford base32, ASCII). As utf8mb4 with
-- utf8mb4_general_ci every primary-key search of messages (the claim, the
-- result commit, the recorder's upsert and its resolution, all per message)
-- decoded and collated 26 multibyte characters per comparison: ~11% of the
-- server's CPU in the end-to-end benchmark. ASCII with ascii_general_ci
-- compares bytes through a table and keeps the case-insensitive matching;
-- every id the API, the sender and the recorder look up is validated as a
-- ULID (or ASCII) before it reaches SQL.
ALTER TABLE messages
    MODIFY id       CHAR(26) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL,
    MODIFY batch_id CHAR(26) CHARACTER SET ascii COLLATE ascii_general_ci NOT NULL;

ALTER TABLE message_events
    MODIFY message_id CHAR(26) CHARACTER SET ascii COLLATE ascii_general_ci NULL;
