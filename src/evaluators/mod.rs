//! Eval suites (`evals/*.yaml`), rule assertions and the pure half of the LLM judge.
//!
//! * [`load_suites`] reads a directory of suite files, validates them and compiles every rule
//!   once (regexes, JSON Schemas, lowercased needles); problems come back as [`Diagnostic`]s
//!   with `file:line:col`.
//! * [`RuleCheck::evaluate`] scores one request with one rule (`not-` applied), pure and cheap,
//!   meant to run on rayon.
//! * [`suite_outcome`] combines per-assertion outcomes into the suite verdict.

pub(crate) mod compile;
pub(crate) mod compile_judge;
pub(crate) mod compile_values;
pub(crate) mod definition_hash;
pub mod diagnostics;
pub mod judge_prompt;
pub mod load;
pub(crate) mod raw;
pub mod rule_type;
pub mod rules;
pub mod suite;
pub mod template;
pub mod versions;

pub use diagnostics::Diagnostic;
pub use load::{load_suite_text, load_suites, load_valid_suites};
pub use rules::{RuleCheck, RuleKind, RuleResult};
pub use suite::{
    Assertion, AssertionKind, PairwiseSpec, PassRule, RubricSpec, Suite, suite_outcome,
};
pub use template::{Template, Var};
