-- What each judge has spent in each tick (rollout, window start), shared by every claim batch
-- and every `serve` replica that scores the tick, so `[judges.X] budget_calls`, `budget_tokens`
-- and `budget_usd` cap the whole tick and an auth failure stops the judge for the rest of it.
-- Dollars are whole pico-dollars (1e-12 USD; one token at $0.01 per million is 10 000 of them):
-- each call's cost is rounded once, by at most 0.5 pUSD, and the sums are exact integers, so
-- cheap calls add up against `budget_usd` instead of rounding to nothing.
CREATE TABLE IF NOT EXISTS tick_budgets (
    rollout_id     TEXT NOT NULL,
    window_start   TEXT NOT NULL,
    judge          TEXT NOT NULL,
    calls          INTEGER NOT NULL DEFAULT 0,
    tokens         INTEGER NOT NULL DEFAULT 0,
    cost_pico_usd  INTEGER NOT NULL DEFAULT 0,
    auth_stopped   INTEGER NOT NULL DEFAULT 0,
    auth_error     TEXT,
    PRIMARY KEY (rollout_id, window_start, judge)
);
