//! Rollout plans, stages, states and traffic splits (owned by the rollout controller issue).
