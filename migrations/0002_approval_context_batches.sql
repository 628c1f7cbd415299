-- Issue 9: narrative context on requests, approval of images, entities' stored
-- context and primary images, batches and async jobs.
-- Upgrades existing data: requests get sent_prompt = prompt (what was sent);
-- images stored before approval existed were already being served, so they
-- become 'approved' (new images take the configured default, APPROVAL_DEFAULT).

-- What the caller wrote stays in `prompt`; what the provider got is `sent_prompt`.
ALTER TABLE generation_requests ADD COLUMN context TEXT CHECK (context IS NULL OR json_valid(context));
ALTER TABLE generation_requests ADD COLUMN sent_prompt TEXT;
UPDATE generation_requests SET sent_prompt = prompt WHERE sent_prompt IS NULL;

ALTER TABLE images ADD COLUMN approval_status TEXT NOT NULL DEFAULT 'pending'
    CHECK (approval_status IN ('pending', 'approved', 'rejected'));
ALTER TABLE images ADD COLUMN reviewed_by TEXT;
ALTER TABLE images ADD COLUMN review_reason TEXT;
ALTER TABLE images ADD COLUMN reviewed_at TEXT;
UPDATE images SET approval_status = 'approved';
-- the review queue: images by status, newest first
CREATE INDEX idx_images_approval ON images (approval_status, id);

-- An entity's narrative context, used when a request references the entity.
CREATE TABLE entity_contexts (
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    context       TEXT NOT NULL CHECK (json_valid(context)),
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id)
);

-- One primary image per entity and role; only approved images (checked on write,
-- and removed in the same batch when the image is rejected).
CREATE TABLE entity_primary_images (
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    role          TEXT NOT NULL DEFAULT 'image',
    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    set_by        TEXT,
    set_at        TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, role)
);
CREATE INDEX idx_primary_image ON entity_primary_images (image_id);

-- A batch of generations (kind 'batch') or one asynchronous generation (kind 'job').
CREATE TABLE batches (
    id               TEXT PRIMARY KEY,                  -- bat_<ULID> or job_<ULID>
    kind             TEXT NOT NULL CHECK (kind IN ('batch', 'job')),
    caller           TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed')),
    total            INTEGER NOT NULL CHECK (total BETWEEN 1 AND 100),
    webhook_url      TEXT,
    webhook_status   TEXT CHECK (webhook_status IN ('delivered', 'failed')),
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    completed_at     TEXT,
    CHECK ((status = 'completed') = (completed_at IS NOT NULL))
);
CREATE INDEX idx_batches_caller ON batches (caller, id);

CREATE TABLE batch_items (
    batch_id         TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    idx              INTEGER NOT NULL CHECK (idx >= 0),
    status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'refused')),
    body             TEXT NOT NULL CHECK (json_valid(body)),  -- the GenerationRequest, with its idempotency key
    request_id       TEXT,                              -- the generation, once it exists
    error            TEXT CHECK (error IS NULL OR json_valid(error)),
    deliveries       INTEGER NOT NULL DEFAULT 0,        -- queue deliveries seen (redeliveries after a crash)
    updated_at       TEXT NOT NULL,
    PRIMARY KEY (batch_id, idx)
);
