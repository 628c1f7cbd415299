-- Delivery variants (issue 18): each resized/re-encoded copy of an image, made once by the
-- Images binding (Pillow locally) and stored in R2 beside the original. The row is how a
-- variant is found again, served with an ETag, and deleted with its original.
CREATE TABLE image_variants (
    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    variant       TEXT NOT NULL,                        -- canonical spec, e.g. w256-h0-scale-down-q80-webp
    r2_key        TEXT NOT NULL UNIQUE,
    content_type  TEXT NOT NULL CHECK (content_type LIKE 'image/%'),
    byte_size     INTEGER NOT NULL CHECK (byte_size > 0),
    sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
    width         INTEGER NOT NULL CHECK (width > 0),
    height        INTEGER NOT NULL CHECK (height > 0),
    created_at    TEXT NOT NULL,
    PRIMARY KEY (image_id, variant)
);

-- Every transformation call, counted per UTC day: each one is billed by Cloudflare
-- (5,000 a month free, then $0.50 per 1,000), stored variant or not.
CREATE TABLE image_transformations (
    day     TEXT PRIMARY KEY CHECK (length(day) = 10),
    count   INTEGER NOT NULL DEFAULT 0 CHECK (count >= 0)
);
