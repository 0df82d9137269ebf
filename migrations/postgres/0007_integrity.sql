-- Gate integrity (issue 10): a rollout's tick failures are counted per window and visible; the
-- controller records the newest window it decided (a redone window cannot apply a second
-- transition) and the split it is about to write (a restart tells its own half-finished write from
-- drift); one writer per rollout holds a lease whose token fences its writes; notifications go
-- through an outbox written with the transition and delivered at least once.
ALTER TABLE rollouts ADD COLUMN failed_windows BIGINT NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN failing_window TIMESTAMPTZ;
ALTER TABLE rollouts ADD COLUMN last_tick_error TEXT;
ALTER TABLE rollouts ADD COLUMN last_window TIMESTAMPTZ;
ALTER TABLE rollouts ADD COLUMN pending_split_bp BIGINT;

ALTER TABLE ticks ADD COLUMN last_error TEXT;

CREATE TABLE IF NOT EXISTS rollout_leases (
    rollout_id  TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS notify_outbox (
    id              TEXT PRIMARY KEY,
    rollout_id      TEXT NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    webhook         TEXT,
    notification    JSONB NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (delivered_at, next_attempt_at);
