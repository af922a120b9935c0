-- Why a running campaign is not sending for now, set and cleared by the
-- dispatcher (docs/DESIGN.md "Campaigns", Meta's messaging limit): the
-- reason's stable code (meta_tier_limit), a sentence for the operator, and
-- when the dispatcher looks again. NULL: nothing holds it.
ALTER TABLE campaigns
    ADD COLUMN hold_reason   VARCHAR(32) CHARACTER SET ascii NULL AFTER error,
    ADD COLUMN hold_message  VARCHAR(512) NULL AFTER hold_reason,
    ADD COLUMN hold_until    DATETIME(3) NULL AFTER hold_message;
