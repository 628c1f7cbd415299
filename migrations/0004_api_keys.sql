-- Keys per caller (issue 11): each key acts as one caller with a set of scopes.
-- Only a SHA-256 of the secret is stored (the secret is 256 random bits, so a
-- fast hash is enough; it is shown once, at creation). Several keys may be live
-- for one caller at once, which is how a key is rotated.
CREATE TABLE api_keys (
    id                   TEXT PRIMARY KEY,                   -- key_<ULID>
    name                 TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    caller               TEXT NOT NULL CHECK (length(caller) BETWEEN 1 AND 128),
    scopes               TEXT NOT NULL CHECK (json_valid(scopes)),  -- e.g. ["generate","read"]
    secret_hash          TEXT NOT NULL UNIQUE CHECK (length(secret_hash) = 64),
    prefix               TEXT NOT NULL,                      -- first characters, to recognise a key in a list
    daily_budget_micros  INTEGER CHECK (daily_budget_micros >= 0),
    expires_at           TEXT,                               -- NULL: does not expire
    created_at           TEXT NOT NULL,
    revoked_at           TEXT
);
CREATE INDEX idx_api_keys_caller ON api_keys (caller, id);

-- Which key made a request (NULL: the API_TOKEN, the service binding, or rows
-- from before keys existed), for per-key budgets.
ALTER TABLE generation_requests ADD COLUMN api_key_id TEXT;
CREATE INDEX idx_requests_key_created ON generation_requests (api_key_id, created_at) WHERE api_key_id IS NOT NULL;

-- Listing filters (GET /v1/generations), newest first by id: each filter has an
-- index whose second column is the id, so a page is an index range scan.
CREATE INDEX idx_requests_caller_id ON generation_requests (caller, id);
CREATE INDEX idx_requests_status_id ON generation_requests (status, id);
CREATE INDEX idx_requests_provider_id ON generation_requests (provider, id);
-- (the entity filter needs none: entity_links' primary key starts with
-- (entity_type, entity_id), and images' UNIQUE (request_id, idx) joins back)
