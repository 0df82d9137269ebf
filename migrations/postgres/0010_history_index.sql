-- History scans (`rescore`, `backtest`) page through a time range in (ts, request_id) order with
-- a keyset cursor. Without an index in that order every page scanned and sorted the whole range
-- (quadratic in the range's size: BENCHMARKS.md, "Rescore, issue 14, structural change"); with
-- it a page reads only its own rows.
CREATE INDEX IF NOT EXISTS requests_ts_id ON requests (ts, request_id);
