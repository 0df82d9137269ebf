//! Eval suites (`evals/*.yaml`), rule assertions and the pure half of the LLM judge.

pub mod judge_prompt;
