-- Contacts, their tags and groups: the audience campaigns are sent to.
--
-- One contact is one person; each address (phone and WhatsApp as +E164,
-- e-mail lower-cased) belongs to at most one contact, so the UNIQUE keys
-- are also the upsert keys of imports. Ids are numbers (BIGINT), like API
-- keys. Listings page by id (keyset: WHERE id > cursor ORDER BY id), so no
-- query ever skips rows with OFFSET; the secondary keys serve the prefix
-- searches (name, each address) and the tag and group filters.
CREATE TABLE contacts (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(255) NULL,
    phone       VARCHAR(32) CHARACTER SET ascii NULL,
    whatsapp    VARCHAR(32) CHARACTER SET ascii NULL,
    email       VARCHAR(255) NULL,
    attributes  MEDIUMTEXT NULL,             -- a JSON object, compact text
    locale      VARCHAR(35) CHARACTER SET ascii NULL,   -- BCP 47
    timezone    VARCHAR(64) CHARACTER SET ascii NULL,   -- IANA
    created_at  DATETIME(3) NOT NULL,
    updated_at  DATETIME(3) NOT NULL,
    UNIQUE KEY uq_contacts_phone (phone),
    UNIQUE KEY uq_contacts_whatsapp (whatsapp),
    UNIQUE KEY uq_contacts_email (email),
    KEY idx_contacts_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- tags as rows, not a JSON column: counted, filtered and renamed in SQL
CREATE TABLE contact_tags (
    contact_id  BIGINT NOT NULL,
    tag         VARCHAR(64) NOT NULL,
    PRIMARY KEY (contact_id, tag),
    KEY idx_contact_tags_tag (tag, contact_id),
    CONSTRAINT fk_contact_tags_contact FOREIGN KEY (contact_id)
        REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE contact_groups (
    id           BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name         VARCHAR(255) NOT NULL,
    description  VARCHAR(1024) NULL,
    created_at   DATETIME(3) NOT NULL,
    updated_at   DATETIME(3) NOT NULL,
    UNIQUE KEY uq_contact_groups_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- deleting a contact or a group removes its memberships
CREATE TABLE contact_group_members (
    group_id    BIGINT NOT NULL,
    contact_id  BIGINT NOT NULL,
    created_at  DATETIME(3) NOT NULL,
    PRIMARY KEY (group_id, contact_id),
    KEY idx_contact_group_members_contact (contact_id),
    CONSTRAINT fk_members_group FOREIGN KEY (group_id)
        REFERENCES contact_groups (id) ON DELETE CASCADE,
    CONSTRAINT fk_members_contact FOREIGN KEY (contact_id)
        REFERENCES contacts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
