-- The daemon's scheduler state: the last completed scheduled time per job (ticks, drills) so a
-- restarted daemon catches up missed windows, and the scheduler leader's heartbeat.
CREATE TABLE IF NOT EXISTS scheduler_state (
    job         TEXT PRIMARY KEY,
    last_run_at TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS scheduler_leader (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    holder       TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
);
