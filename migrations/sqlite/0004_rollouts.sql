-- Rollouts (DESIGN.md §6): each rollout's plan and state, its audit trail, the traffic splits
-- gateways read, and rollback drill results.
CREATE TABLE IF NOT EXISTS rollouts (
    id              TEXT PRIMARY KEY,
    flag_key        TEXT NOT NULL,
    owner           TEXT,
    webhook         TEXT,
    suite           TEXT,
    baseline_target TEXT NOT NULL,
    canary_target   TEXT NOT NULL,
    salt            TEXT NOT NULL,
    always_tenants  TEXT NOT NULL,
    never_tenants   TEXT NOT NULL,
    plan            TEXT NOT NULL,
    state           TEXT NOT NULL,
    phase           TEXT NOT NULL,
    wake_at         TEXT,
    last_reason     TEXT NOT NULL DEFAULT '',
    last_evidence   TEXT NOT NULL,
    active          INTEGER NOT NULL DEFAULT 1,
    version         INTEGER NOT NULL DEFAULT 0,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rollouts_active ON rollouts (active, created_at);
CREATE INDEX IF NOT EXISTS rollouts_flag ON rollouts (flag_key);

CREATE TABLE IF NOT EXISTS rollout_events (
    id          TEXT PRIMARY KEY,
    rollout_id  TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    before      TEXT NOT NULL,
    after       TEXT NOT NULL,
    evidence    TEXT NOT NULL,
    is_override INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS rollout_events_rollout_at ON rollout_events (rollout_id, at);

CREATE TABLE IF NOT EXISTS traffic_splits (
    flag_key     TEXT PRIMARY KEY,
    basis_points INTEGER NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    generation   INTEGER NOT NULL,
    salt         TEXT NOT NULL,
    always       TEXT NOT NULL,
    never        TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    updated_by   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS drills (
    id                 TEXT PRIMARY KEY,
    flag_key           TEXT NOT NULL,
    at                 TEXT NOT NULL,
    ok                 INTEGER NOT NULL,
    results            TEXT NOT NULL,
    time_to_visible_ms INTEGER,
    drift              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_at ON drills (at);
