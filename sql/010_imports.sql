-- CSV imports of contacts (POST /api/contacts/import): one row per import,
-- its counters updated after each batch by the thread that parses the file,
-- so GET /api/contacts/imports/{id} reads progress without the parser.
-- errors: a JSON array of {"line","error"}, the first 1,000 rejected rows.
CREATE TABLE imports (
    id          BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    status      ENUM('running','done','failed') NOT NULL DEFAULT 'running',
    group_id    BIGINT NULL,
    tags        VARCHAR(2048) NULL,          -- the ?tags= given, as sent
    `rows`      BIGINT NOT NULL DEFAULT 0,
    created     BIGINT NOT NULL DEFAULT 0,
    updated     BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    errors      MEDIUMTEXT NULL,
    message     VARCHAR(512) NULL,           -- why an import failed
    created_at  DATETIME(3) NOT NULL,
    updated_at  DATETIME(3) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
