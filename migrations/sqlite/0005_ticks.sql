-- Ticks keyed by (rollout, window start), so a crash mid-tick is finished or redone without
-- double counting; and the scoring work queue that several `serve` replicas share.
CREATE TABLE IF NOT EXISTS ticks (
    rollout_id   TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    tick_at      TEXT NOT NULL,
    stage_index  INTEGER NOT NULL,
    pairing_seed INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('running', 'gated', 'done')),
    attempts     INTEGER NOT NULL DEFAULT 1,
    worker       TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    finished_at  TEXT,
    report       TEXT,
    PRIMARY KEY (rollout_id, window_start)
);
CREATE INDEX IF NOT EXISTS ticks_status ON ticks (status, rollout_id);

CREATE TABLE IF NOT EXISTS score_queue (
    rollout_id   TEXT NOT NULL,
    window_start TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    suite        TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('pending', 'claimed', 'done')),
    claimed_by   TEXT,
    claimed_at   TEXT,
    PRIMARY KEY (rollout_id, window_start, request_id)
);
CREATE INDEX IF NOT EXISTS score_queue_status ON score_queue (status, seq);
