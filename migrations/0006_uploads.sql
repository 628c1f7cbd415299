-- Uploaded input images (POST /v1/uploads): a source for edits larger than a request
-- may carry inline. The bytes live in R2 under uploads/; an edit names them by id.
CREATE TABLE uploads (
    id            TEXT PRIMARY KEY,                     -- upl_<ULID>
    caller        TEXT NOT NULL,
    r2_key        TEXT NOT NULL UNIQUE,
    content_type  TEXT NOT NULL CHECK (content_type LIKE 'image/%'),
    byte_size     INTEGER NOT NULL CHECK (byte_size > 0),
    sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
    width         INTEGER CHECK (width > 0),
    height        INTEGER CHECK (height > 0),
    created_at    TEXT NOT NULL
);
CREATE INDEX idx_uploads_caller_created ON uploads (caller, created_at);
