-- Entities belong to a caller: the caller is part of an entity's identity, so two callers
-- may both have `character/hero`, and one caller's links, context and primary images are
-- never another's (nobody else can read, change or prompt with them).
--
-- Upgrading existing rows:
-- - a link and a primary image take the caller of the image's generation (an image is
--   its generation's caller's);
-- - a stored context is copied to every caller that had an image linked to that entity
--   (each keeps seeing what it saw), and to 'default' (DEFAULT_CALLER's default, the
--   caller of the open local server and of the API token) when no image was linked to it.
-- SQLite cannot change a primary key in place: each table is rebuilt.

CREATE TABLE entity_links_owned (
    caller        TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 128),
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    role          TEXT NOT NULL DEFAULT 'image',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (caller, entity_type, entity_id, image_id, role)
);
INSERT OR IGNORE INTO entity_links_owned (caller, entity_type, entity_id, image_id, role, created_at)
    SELECT r.caller, l.entity_type, l.entity_id, l.image_id, l.role, l.created_at
    FROM entity_links l JOIN images i ON i.id = l.image_id JOIN generation_requests r ON r.id = i.request_id;

CREATE TABLE entity_contexts_owned (
    caller        TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 128),
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    context       TEXT NOT NULL CHECK (json_valid(context)),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (caller, entity_type, entity_id)
);
INSERT OR IGNORE INTO entity_contexts_owned (caller, entity_type, entity_id, context, updated_at)
    SELECT DISTINCT l.caller, c.entity_type, c.entity_id, c.context, c.updated_at
    FROM entity_contexts c JOIN entity_links_owned l ON l.entity_type = c.entity_type AND l.entity_id = c.entity_id;
INSERT OR IGNORE INTO entity_contexts_owned (caller, entity_type, entity_id, context, updated_at)
    SELECT 'default', c.entity_type, c.entity_id, c.context, c.updated_at FROM entity_contexts c
    WHERE NOT EXISTS (SELECT 1 FROM entity_links_owned l WHERE l.entity_type = c.entity_type AND l.entity_id = c.entity_id);

CREATE TABLE entity_primary_images_owned (
    caller        TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 128),
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    role          TEXT NOT NULL DEFAULT 'image',
    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    set_by        TEXT,
    set_at        TEXT NOT NULL,
    PRIMARY KEY (caller, entity_type, entity_id, role)
);
INSERT OR IGNORE INTO entity_primary_images_owned (caller, entity_type, entity_id, role, image_id, set_by, set_at)
    SELECT r.caller, p.entity_type, p.entity_id, p.role, p.image_id, p.set_by, p.set_at
    FROM entity_primary_images p JOIN images i ON i.id = p.image_id JOIN generation_requests r ON r.id = i.request_id;

DROP TABLE entity_links;
DROP TABLE entity_contexts;
DROP TABLE entity_primary_images;
ALTER TABLE entity_links_owned RENAME TO entity_links;
ALTER TABLE entity_contexts_owned RENAME TO entity_contexts;
ALTER TABLE entity_primary_images_owned RENAME TO entity_primary_images;
CREATE INDEX idx_links_image ON entity_links (image_id);
CREATE INDEX idx_primary_image ON entity_primary_images (image_id);
