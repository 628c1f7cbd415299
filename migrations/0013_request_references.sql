-- Entity references (issue 27): which approved primary image of which entity a request was
-- sent as a reference image, in the order sent. The request's result and GET /v1/generations/{id}
-- return them; an entity's page lists the requests (and their images) that used it.
-- `caller` is the request's: an entity belongs to a caller, so its uses are listed per caller.
CREATE TABLE request_references (
    request_id    TEXT NOT NULL REFERENCES generation_requests (id) ON DELETE CASCADE,
    position      INTEGER NOT NULL CHECK (position >= 0),
    caller        TEXT NOT NULL,
    entity_type   TEXT NOT NULL CHECK (entity_type IN ('character', 'location', 'scene', 'item', 'other')),
    entity_id     TEXT NOT NULL CHECK (length(entity_id) BETWEEN 1 AND 200),
    role          TEXT NOT NULL,
    usage         TEXT NOT NULL CHECK (usage IN ('subject', 'style', 'scene')),
    image_id      TEXT,                                 -- NULL: no approved primary (allow_missing_references)
    created_at    TEXT NOT NULL,
    PRIMARY KEY (request_id, position)
);
CREATE INDEX idx_references_entity ON request_references (caller, entity_type, entity_id, created_at);
