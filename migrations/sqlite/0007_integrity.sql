-- Gate integrity (issue 10): a rollout's tick failures are counted per window and visible; the
-- controller records the newest window it decided (a redone window cannot apply a second
-- transition) and the split it is about to write (a restart tells its own half-finished write from
-- drift); one writer per rollout holds a lease whose token fences its writes; notifications go
-- through an outbox written with the transition and delivered at least once.
ALTER TABLE rollouts ADD COLUMN failed_windows INTEGER NOT NULL DEFAULT 0;
ALTER TABLE rollouts ADD COLUMN failing_window TEXT;
ALTER TABLE rollouts ADD COLUMN last_tick_error TEXT;
ALTER TABLE rollouts ADD COLUMN last_window TEXT;
ALTER TABLE rollouts ADD COLUMN pending_split_bp INTEGER;

ALTER TABLE ticks ADD COLUMN last_error TEXT;

CREATE TABLE IF NOT EXISTS rollout_leases (
    rollout_id  TEXT PRIMARY KEY,
    holder      TEXT NOT NULL,
    token       INTEGER NOT NULL,
    acquired_at TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS notify_outbox (
    id              TEXT PRIMARY KEY,
    rollout_id      TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    webhook         TEXT,
    notification    TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    delivered_at    TEXT,
    last_error      TEXT
);
CREATE INDEX IF NOT EXISTS notify_outbox_due ON notify_outbox (delivered_at, next_attempt_at);
