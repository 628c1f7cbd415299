-- The image worker's D1 schema: generation requests, their images, every
-- provider attempt (with its cost), links to the app's entities, and the
-- daily roll-up the cron writes. Money is integer micro-dollars; times are
-- UTC ISO-8601 text ("2026-11-24T15:06:33.123Z"), which sorts correctly.

CREATE TABLE generation_requests (
    id                     TEXT PRIMARY KEY,            -- gen_<ULID>: sortable by creation time
    caller                 TEXT NOT NULL,
    kind                   TEXT NOT NULL CHECK (kind IN ('generate', 'edit')),
    status                 TEXT NOT NULL CHECK (status IN ('pending', 'running', 'succeeded', 'failed', 'refused')),
    prompt                 TEXT NOT NULL,
    params                 TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
    requested_provider     TEXT,                        -- NULL = auto
    provider               TEXT,                        -- the provider that served (or last failed)
    model                  TEXT,
    size                   TEXT,
    quality                TEXT,
    n                      INTEGER NOT NULL CHECK (n BETWEEN 1 AND 10),
    estimated_cost_micros  INTEGER CHECK (estimated_cost_micros >= 0),
    actual_cost_micros     INTEGER CHECK (actual_cost_micros >= 0),
    warnings               TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(warnings)),
    links                  TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(links)),
    idempotency_key        TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 128),
    request_hash           TEXT NOT NULL,               -- sha256 of the canonical request, for key reuse checks
    error_code             TEXT,
    error_message          TEXT,
    created_at             TEXT NOT NULL,
    updated_at             TEXT NOT NULL,
    completed_at           TEXT,
    -- terminal rows carry a completion time; failed/refused rows say why
    CHECK ((status IN ('succeeded', 'failed', 'refused')) = (completed_at IS NOT NULL)),
    CHECK (status NOT IN ('failed', 'refused') OR error_code IS NOT NULL)
);
-- the stale-request sweep: non-terminal rows by age
CREATE INDEX idx_requests_status_updated ON generation_requests (status, updated_at);
-- a retried request with the same key (per caller) finds the first one instead of paying twice
CREATE UNIQUE INDEX idx_requests_idempotency ON generation_requests (caller, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
-- a caller's history, newest first
CREATE INDEX idx_requests_caller_created ON generation_requests (caller, created_at);

CREATE TABLE images (
    id            TEXT PRIMARY KEY,                     -- img_<ULID>
    request_id    TEXT NOT NULL REFERENCES generation_requests (id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL CHECK (idx >= 0),
    r2_key        TEXT NOT NULL UNIQUE,
    content_type  TEXT NOT NULL CHECK (content_type LIKE 'image/%'),
    byte_size     INTEGER NOT NULL CHECK (byte_size > 0),
    sha256        TEXT NOT NULL CHECK (length(sha256) = 64),
    width         INTEGER CHECK (width > 0),
    height        INTEGER CHECK (height > 0),
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (request_id, idx)
);

-- One row per provider attempt: what it cost, how long it took, how it ended.
CREATE TABLE usage_events (
    id             TEXT PRIMARY KEY,                    -- use_<ULID>
    request_id     TEXT NOT NULL REFERENCES generation_requests (id) ON DELETE CASCADE,
    day            TEXT NOT NULL CHECK (length(day) = 10),  -- UTC day, YYYY-MM-DD
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    attempt        INTEGER NOT NULL CHECK (attempt >= 1),
    outcome        TEXT NOT NULL CHECK (outcome IN ('succeeded', 'failed', 'refused')),
    images         INTEGER NOT NULL DEFAULT 0 CHECK (images >= 0),
    filtered       INTEGER NOT NULL DEFAULT 0 CHECK (filtered >= 0),
    cost_micros    INTEGER NOT NULL DEFAULT 0 CHECK (cost_micros >= 0),
    usage          TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(usage)),
    latency_ms     INTEGER CHECK (latency_ms >= 0),
    error_code     TEXT,
    created_at     TEXT NOT NULL
);
CREATE INDEX idx_usage_day_provider ON usage_events (day, provider, model);
CREATE INDEX idx_usage_request ON usage_events (request_id);

-- Images linked to the app's entities (characters, locations, scenes, ...).
CREATE TABLE entity_links (
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    image_id      TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
    role          TEXT NOT NULL DEFAULT 'image',
    created_at    TEXT NOT NULL,
    PRIMARY KEY (entity_type, entity_id, image_id, role)
);
CREATE INDEX idx_links_image ON entity_links (image_id);

-- Written by the cron from usage_events: one row per UTC day × provider × model.
CREATE TABLE daily_usage (
    day            TEXT NOT NULL,
    provider       TEXT NOT NULL,
    model          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    succeeded      INTEGER NOT NULL DEFAULT 0,
    images         INTEGER NOT NULL DEFAULT 0,
    cost_micros    INTEGER NOT NULL DEFAULT 0,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (day, provider, model)
);
