-- Which API key submitted a batch or job (NULL: the API_TOKEN, the service binding, the
-- open local API). The queue consumer runs each item as that key again (refused once the key
-- is revoked or expired), its generations record the key, and the key's budget holds them.
ALTER TABLE batches ADD COLUMN api_key_id TEXT;
