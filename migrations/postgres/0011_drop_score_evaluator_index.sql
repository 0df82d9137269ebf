-- `eval_scores_evaluator` (evaluator, evaluator_version) was read by no query: every reader of
-- scores looks them up by request (the unique key's prefix). Each score row paid one more B-tree
-- insert for it, a third of a rescore's index work (BENCHMARKS.md, "Rescore over 1M requests").
DROP INDEX IF EXISTS eval_scores_evaluator;
