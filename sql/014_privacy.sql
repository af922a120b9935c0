-- Privacy (docs/DESIGN.md, "Privacy"): encryption at rest, erasure,
-- retention.
--
-- Sealed values ($bce1$<key id>$<base64>, common/bc_crypt.h) are about 4/3
-- of the text plus ~50 bytes: an e-mail subject of 255 characters no longer
-- fits VARCHAR(255). Nothing indexes it.
ALTER TABLE messages MODIFY subject TEXT NULL;

-- the salt of the address hashes an erasure leaves behind (opt-outs,
-- blacklist rows, audit rows): one row, random, made here once
CREATE TABLE privacy_salt (
    id    TINYINT NOT NULL PRIMARY KEY,
    salt  CHAR(64) CHARACTER SET ascii NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
INSERT INTO privacy_salt (id, salt)
    VALUES (1, SHA2(CONCAT(RAND(), UUID(), NOW(6)), 256));

-- one row per erasure: who, when, the salted hash of the address and how
-- many rows of each kind went; never the address
CREATE TABLE privacy_erasures (
    id             BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    admin_user_id  BIGINT NULL,
    address_hash   CHAR(64) CHARACTER SET ascii NOT NULL,
    counts         VARCHAR(1024) NOT NULL,     -- compact JSON object
    created_at     DATETIME(3) NOT NULL,
    KEY ix_privacy_erasures_hash (address_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
