-- Run-time price overrides (admin-only, no deploy needed). Append-only: every change is
-- a row (who, why, when), the newest row per model is in force, and a row with
-- rates_json NULL clears the override. Existing data needs no change: no row means
-- the catalog's price applies, as before.
CREATE TABLE IF NOT EXISTS price_overrides (
    id TEXT PRIMARY KEY,            -- sortable id (pipeline.ids.new_id)
    model TEXT NOT NULL,
    rates_json TEXT,                -- {"image_out": 25000000, ...} micro-dollars; NULL = back to the catalog
    reason TEXT NOT NULL,
    set_by TEXT NOT NULL,
    created_at TEXT NOT NULL        -- UTC ISO 8601
);
CREATE INDEX IF NOT EXISTS price_overrides_model ON price_overrides (model, id);
