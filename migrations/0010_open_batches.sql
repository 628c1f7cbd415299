-- The cron's safety net for batches and jobs (docs/batches.md, generation/batch_recovery.py)
-- looks for open batches not touched for an hour, and for completed ones whose webhook
-- never ran: both partial indexes stay as small as the open work.
CREATE INDEX idx_batches_open ON batches (updated_at) WHERE status != 'completed';
CREATE INDEX idx_batches_webhook_due ON batches (completed_at) WHERE webhook_url IS NOT NULL AND webhook_status IS NULL;
