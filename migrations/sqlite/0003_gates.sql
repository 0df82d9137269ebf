-- Gate statistics (STATS.md): the persisted test state per (rollout, stage, metric), one replay
-- record per (rollout, window, metric) with the pairing seed and bet, the series people and
-- Grafana read, and halt signals with their evidence.

-- One row per (rollout, stage, metric). previous_state is the state before window_start was
-- applied, so a redone tick recomputes from it instead of counting the window twice.
CREATE TABLE IF NOT EXISTS gate_state (
    rollout_id     TEXT NOT NULL,
    stage          INTEGER NOT NULL,
    metric         TEXT NOT NULL,
    state          TEXT NOT NULL,
    previous_state TEXT,
    window_start   TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (rollout_id, stage, metric)
);

CREATE TABLE IF NOT EXISTS gate_updates (
    rollout_id   TEXT NOT NULL,
    window_start TEXT NOT NULL,
    metric       TEXT NOT NULL,
    stage        INTEGER NOT NULL,
    tick         INTEGER NOT NULL,
    pairing_seed INTEGER NOT NULL,
    bet          REAL,
    ln_e_value   REAL,
    verdict      TEXT NOT NULL CHECK (verdict IN ('halt', 'promote_ready', 'inconclusive')),
    reason       TEXT NOT NULL,
    evidence     TEXT NOT NULL,
    at           TEXT NOT NULL,
    PRIMARY KEY (rollout_id, window_start, metric)
);

CREATE TABLE IF NOT EXISTS pass_rate_series (
    rollout_id        TEXT NOT NULL,
    arm               TEXT NOT NULL CHECK (arm IN ('baseline', 'canary')),
    evaluator         TEXT NOT NULL,
    evaluator_version TEXT NOT NULL,
    window_start      TEXT NOT NULL,
    window_end        TEXT NOT NULL,
    n                 INTEGER NOT NULL,
    passes            INTEGER NOT NULL,
    fails             INTEGER NOT NULL,
    unscorable        INTEGER NOT NULL,
    rate              REAL,
    wilson_low        REAL,
    wilson_high       REAL,
    interval_kind     TEXT NOT NULL DEFAULT 'single-look',
    PRIMARY KEY (rollout_id, arm, evaluator, evaluator_version, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS pass_rate_series_window ON pass_rate_series (rollout_id, window_start);

CREATE TABLE IF NOT EXISTS metric_series (
    rollout_id   TEXT NOT NULL,
    arm          TEXT NOT NULL CHECK (arm IN ('baseline', 'canary')),
    metric       TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    n            INTEGER NOT NULL,
    value        REAL,
    extra        TEXT NOT NULL,
    PRIMARY KEY (rollout_id, arm, metric, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS metric_series_window ON metric_series (rollout_id, window_start);

CREATE TABLE IF NOT EXISTS halt_signals (
    rollout_id   TEXT NOT NULL,
    stage        INTEGER NOT NULL,
    metric       TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('rollback', 'freeze', 'notify')),
    at           TEXT NOT NULL,
    window_start TEXT NOT NULL,
    reason       TEXT NOT NULL,
    evidence     TEXT NOT NULL,
    PRIMARY KEY (rollout_id, stage, metric, window_start)
);
CREATE INDEX IF NOT EXISTS halt_signals_at ON halt_signals (rollout_id, at);
