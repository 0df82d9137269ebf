-- The log store contract (DESIGN.md §3): requests as served, and feedback that arrives later.
CREATE TABLE IF NOT EXISTS requests (
    request_id        TEXT PRIMARY KEY,
    ts                TEXT NOT NULL,
    tenant_id         TEXT NOT NULL,
    arm               TEXT NOT NULL CHECK (arm IN ('baseline', 'canary')),
    model             TEXT NOT NULL,
    rollout_id        TEXT,
    input             TEXT NOT NULL,
    output            TEXT NOT NULL DEFAULT '',
    reference         TEXT,
    status            TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'error')),
    error             TEXT,
    latency_ms        REAL,
    prompt_tokens     INTEGER,
    completion_tokens INTEGER,
    cost_usd          REAL,
    metadata          TEXT NOT NULL DEFAULT '{}'
);
-- Sampling reads one arm's window; these indexes cover its columns so the cost follows the size
-- of the window, not of the table.
CREATE INDEX IF NOT EXISTS requests_arm_ts ON requests (arm, ts, tenant_id, status, request_id);
CREATE INDEX IF NOT EXISTS requests_rollout_arm_ts ON requests (rollout_id, arm, ts, tenant_id, status, request_id);

CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('thumbs', 'regenerated', 'escalated', 'refunded', 'session_length')),
    at         TEXT NOT NULL,
    value      REAL NOT NULL,
    PRIMARY KEY (request_id, kind, at)
);
CREATE INDEX IF NOT EXISTS feedback_at ON feedback (at);
