-- Evaluator results (append-only: a tick redone or a rescore never counts a request twice for
-- one evaluator version) and the judge cache (a judgment is paid for once per content and
-- evaluator version).
CREATE TABLE IF NOT EXISTS eval_scores (
    request_id        TEXT NOT NULL,
    evaluator         TEXT NOT NULL,
    evaluator_version TEXT NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'unscorable')),
    score             REAL,
    reason            TEXT NOT NULL DEFAULT '',
    latency_ms        REAL NOT NULL DEFAULT 0,
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    scored_at         TEXT NOT NULL,
    UNIQUE (request_id, evaluator, evaluator_version)
);
CREATE INDEX IF NOT EXISTS eval_scores_evaluator ON eval_scores (evaluator, evaluator_version);

CREATE TABLE IF NOT EXISTS judge_cache (
    cache_key         TEXT PRIMARY KEY,
    evaluator_version TEXT NOT NULL,
    outcome           TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'unscorable')),
    score             REAL,
    reason            TEXT NOT NULL DEFAULT '',
    prompt_tokens     INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL NOT NULL DEFAULT 0,
    created_at        TEXT NOT NULL
);
