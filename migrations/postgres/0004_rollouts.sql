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
    always_tenants  JSONB NOT NULL,
    never_tenants   JSONB NOT NULL,
    plan            JSONB NOT NULL,
    state           JSONB NOT NULL,
    phase           TEXT NOT NULL,
    wake_at         TIMESTAMPTZ,
    last_reason     TEXT NOT NULL DEFAULT '',
    last_evidence   JSONB NOT NULL,
    active          BOOLEAN NOT NULL DEFAULT TRUE,
    version         BIGINT NOT NULL DEFAULT 0,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX IF NOT EXISTS rollouts_active ON rollouts (active, created_at);
CREATE INDEX IF NOT EXISTS rollouts_flag ON rollouts (flag_key);

CREATE TABLE IF NOT EXISTS rollout_events (
    id          TEXT PRIMARY KEY,
    rollout_id  TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    reason      TEXT NOT NULL,
    before      JSONB NOT NULL,
    after       JSONB NOT NULL,
    evidence    JSONB NOT NULL,
    is_override BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX IF NOT EXISTS rollout_events_rollout_at ON rollout_events (rollout_id, at);

CREATE TABLE IF NOT EXISTS traffic_splits (
    flag_key     TEXT PRIMARY KEY,
    basis_points INTEGER NOT NULL CHECK (basis_points BETWEEN 0 AND 10000),
    generation   BIGINT NOT NULL,
    salt         TEXT NOT NULL,
    always       JSONB NOT NULL,
    never        JSONB NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    updated_by   TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS drills (
    id                 TEXT PRIMARY KEY,
    flag_key           TEXT NOT NULL,
    at                 TIMESTAMPTZ NOT NULL,
    ok                 BOOLEAN NOT NULL,
    results            JSONB NOT NULL,
    time_to_visible_ms BIGINT,
    drift              JSONB NOT NULL
);
CREATE INDEX IF NOT EXISTS drills_at ON drills (at);
