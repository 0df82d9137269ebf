-- Gate statistics (STATS.md): the persisted test state per (rollout, stage, metric), one replay
-- record per (rollout, window, metric) with the pairing seed and bet, the series people and
-- Grafana read, and halt signals with their evidence.

-- One row per (rollout, stage, metric). previous_state is the state before window_start was
-- applied, so a redone tick recomputes from it instead of counting the window twice.
CREATE TABLE IF NOT EXISTS gate_state (
    rollout_id     TEXT NOT NULL,
    stage          BIGINT NOT NULL,
    metric         TEXT NOT NULL,
    state          JSONB NOT NULL,
    previous_state JSONB,
    window_start   TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rollout_id, stage, metric)
);

CREATE TABLE IF NOT EXISTS gate_updates (
    rollout_id   TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    metric       TEXT NOT NULL,
    stage        BIGINT NOT NULL,
    tick         BIGINT NOT NULL,
    pairing_seed BIGINT NOT NULL,
    bet          DOUBLE PRECISION,
    ln_e_value   DOUBLE PRECISION,
    verdict      TEXT NOT NULL CHECK (verdict IN ('halt', 'promote_ready', 'inconclusive')),
    reason       TEXT NOT NULL,
    evidence     JSONB NOT NULL,
    at           TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (rollout_id, window_start, metric)
);

CREATE TABLE IF NOT EXISTS pass_rate_series (
    rollout_id        TEXT NOT NULL,
    arm               TEXT NOT NULL CHECK (arm IN ('baseline', 'canary')),
    evaluator         TEXT NOT NULL,
    evaluator_version TEXT NOT NULL,
    window_start      TIMESTAMPTZ NOT NULL,
    window_end        TIMESTAMPTZ NOT NULL,
    n                 BIGINT NOT NULL,
    passes            BIGINT NOT NULL,
    fails             BIGINT NOT NULL,
    unscorable        BIGINT NOT NULL,
    rate              DOUBLE PRECISION,
    wilson_low        DOUBLE PRECISION,
    wilson_high       DOUBLE PRECISION,
    interval_kind     TEXT NOT NULL DEFAULT 'single-look',
    PRIMARY KEY (rollout_id, arm, evaluator, evaluator_version, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS pass_rate_series_window ON pass_rate_series (rollout_id, window_start);

CREATE TABLE IF NOT EXISTS metric_series (
    rollout_id   TEXT NOT NULL,
    arm          TEXT NOT NULL CHECK (arm IN ('baseline', 'canary')),
    metric       TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    window_end   TIMESTAMPTZ NOT NULL,
    n            BIGINT NOT NULL,
    value        DOUBLE PRECISION,
    extra        JSONB NOT NULL,
    PRIMARY KEY (rollout_id, arm, metric, window_start, window_end)
);
CREATE INDEX IF NOT EXISTS metric_series_window ON metric_series (rollout_id, window_start);

CREATE TABLE IF NOT EXISTS halt_signals (
    rollout_id   TEXT NOT NULL,
    stage        BIGINT NOT NULL,
    metric       TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('rollback', 'freeze', 'notify')),
    at           TIMESTAMPTZ NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    reason       TEXT NOT NULL,
    evidence     JSONB NOT NULL,
    PRIMARY KEY (rollout_id, stage, metric, window_start)
);
CREATE INDEX IF NOT EXISTS halt_signals_at ON halt_signals (rollout_id, at);
