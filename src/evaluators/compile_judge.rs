//! Validation of judge assertions (`llm-rubric`, `llm-pairwise`): judge names and templates.

use std::collections::BTreeSet;

use super::compile_values::{template, text_value};
use super::raw::{RawAssertion, Sink};
use super::suite::{AssertionKind, PairwiseSpec, RubricSpec};

pub(crate) fn judge_kind(
    raw: &RawAssertion,
    base: &str,
    negate: bool,
    judge_names: &BTreeSet<String>,
    sink: &mut Sink<'_>,
) -> Option<AssertionKind> {
    let judge = match &raw.judge {
        Some(judge) if judge_names.contains(judge.value.trim()) => judge.value.trim().to_string(),
        Some(judge) => {
            let known = judge_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let known = if known.is_empty() {
                "none are configured".to_string()
            } else {
                format!("known: {known}")
            };
            sink.at(judge, format!("unknown judge `{}` ({known})", judge.value));
            // Keep going: the rubric's template problems are worth reporting too.
            String::new()
        }
        None if judge_names.len() == 1 => judge_names.iter().next()?.clone(),
        None => {
            sink.at(
                &raw.type_name,
                format!("`{base}` needs a `judge` (a name from [judges] in evalgate.toml)"),
            );
            String::new()
        }
    };
    let (field, name) = if base == "llm-rubric" {
        (&raw.rubric, "rubric")
    } else {
        (&raw.criteria, "criteria")
    };
    let text = match (field, &raw.value) {
        (Some(text), None) => text.clone(),
        (None, Some(_)) => text_value(raw, base, sink)?,
        (Some(text), Some(_)) => {
            sink.at(
                text,
                format!("give the {name} as `{name}` or `value`, not both"),
            );
            return None;
        }
        (None, None) => {
            sink.at(&raw.type_name, format!("`{base}` needs a `{name}`"));
            return None;
        }
    };
    let parsed = template(&text, sink)?;
    if base == "llm-rubric" {
        if let Some(threshold) = &raw.threshold
            && !(0.0..=1.0).contains(&threshold.value)
        {
            sink.at(threshold, "`llm-rubric` threshold must be between 0 and 1");
            return None;
        }
        Some(AssertionKind::Rubric(RubricSpec {
            judge,
            rubric: text.value,
            template: parsed,
        }))
    } else {
        if negate {
            sink.at(
                &raw.type_name,
                "`not-llm-pairwise` is not supported (swap the reference instead)",
            );
            return None;
        }
        Some(AssertionKind::Pairwise(PairwiseSpec {
            judge,
            criteria: text.value,
            template: parsed,
        }))
    }
}
