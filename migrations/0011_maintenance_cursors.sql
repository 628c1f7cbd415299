-- Where the cron's passes over D1 have got to: reconciling spend with the ledger resumes
-- from its last row after an outage or a busy hour, instead of re-reading a fixed window.
CREATE TABLE maintenance_cursors (
  name TEXT PRIMARY KEY,
  position TEXT NOT NULL,   -- the updated_at of the last row passed (ISO, UTC)
  after_id TEXT NOT NULL,   -- and its id: rows sharing that instant are ordered by id
  updated_at TEXT NOT NULL
);
