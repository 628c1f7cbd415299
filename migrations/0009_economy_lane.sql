-- The economy lane (docs/batches.md): batch items that go to a provider's batch API
-- at the batch price. A batch keeps the lane it was asked for; each item records the
-- lane it really ran in (an item no batch API serves runs standard, with a warning).

ALTER TABLE batches ADD COLUMN lane TEXT NOT NULL DEFAULT 'standard'
    CHECK (lane IN ('standard', 'economy', 'economy_only'));
ALTER TABLE batch_items ADD COLUMN lane TEXT NOT NULL DEFAULT 'standard' CHECK (lane IN ('standard', 'economy'));
ALTER TABLE batch_items ADD COLUMN warnings TEXT CHECK (warnings IS NULL OR json_valid(warnings));
ALTER TABLE batch_items ADD COLUMN provider_batch TEXT;  -- provider_batches.id of an economy item

-- One batch submitted to a provider's batch API. The row exists before anything is sent;
-- its id travels in the provider's metadata (OpenAI) or displayName (Gemini), so a
-- redelivery after a crash finds the provider batch instead of submitting a second one.
CREATE TABLE provider_batches (
    id                TEXT PRIMARY KEY,                  -- pbt_<ULID>: our reference
    batch_id          TEXT NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    provider          TEXT NOT NULL,                     -- the configured provider instance
    model             TEXT NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('planned', 'submitting', 'submitted', 'collecting', 'done')),
    input_file_id     TEXT,                              -- OpenAI: the uploaded JSONL, reused on a redelivery
    provider_batch_id TEXT,                              -- batch_… (OpenAI) or batches/… (Gemini), once known
    provider_status   TEXT,                              -- the provider's last reported status
    counts            TEXT CHECK (counts IS NULL OR json_valid(counts)),  -- {total, completed, failed}
    polls             INTEGER NOT NULL DEFAULT 0,        -- poll messages consumed (dedupes poll chains)
    calls             INTEGER NOT NULL DEFAULT 0,        -- provider calls made for this batch (bounded)
    error             TEXT CHECK (error IS NULL OR json_valid(error)),
    submitted_at      TEXT,
    next_poll_at      TEXT,
    done_at           TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE INDEX idx_provider_batches_batch ON provider_batches (batch_id);
CREATE INDEX idx_provider_batches_open ON provider_batches (state, next_poll_at);

-- The money and the wire line of each economy generation: reserved at the batch price
-- on the day it was submitted, settled from the usage in its result line.
CREATE TABLE economy_items (
    request_id        TEXT PRIMARY KEY,                  -- generation_requests.id
    provider_batch    TEXT NOT NULL REFERENCES provider_batches (id) ON DELETE CASCADE,
    batch_id          TEXT NOT NULL,
    idx               INTEGER NOT NULL,
    custom_id         TEXT NOT NULL,                     -- custom_id (OpenAI) / metadata.key (Gemini)
    preq              TEXT NOT NULL CHECK (json_valid(preq)),  -- the provider request, without image bytes
    day               TEXT NOT NULL,                     -- the ledger day the money counts against
    state             TEXT NOT NULL CHECK (state IN ('open', 'settled', 'released')),
    reserved_micros   INTEGER NOT NULL DEFAULT 0,
    charged_micros    INTEGER NOT NULL DEFAULT 0,
    standard_micros   INTEGER NOT NULL DEFAULT 0,        -- the same usage at the standard price
    updated_at        TEXT NOT NULL,
    UNIQUE (provider_batch, custom_id)
);
CREATE INDEX idx_economy_items_day ON economy_items (day, state);
