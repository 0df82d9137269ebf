//! Text rules: equals, the contains family, starts-with, regex and levenshtein.
//! Case folding (`i`-variants) lowercases both sides with Unicode rules, like JavaScript's
//! `toLowerCase` in promptfoo. Needles without template variables are lowercased at load.

use std::borrow::Cow;

use super::{Finding, quote};
use crate::domain::Request;
use crate::evaluators::template::{Template, Var};

/// The expected value of `equals`.
#[derive(Debug, Clone)]
pub enum Expected {
    /// A string (possibly templated): the output must equal it exactly.
    Text(Template),
    /// An object or array: the output must parse as JSON equal to it.
    Json(serde_json::Value),
}

/// How many needles of a contains-rule must occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainsMode {
    /// `contains` / `icontains`: the single needle.
    One,
    /// `-any`: at least one needle.
    Any,
    /// `-all`: every needle.
    All,
}

/// One substring to look for, with its lowercase form precomputed when it is a literal.
#[derive(Debug, Clone)]
pub struct Needle {
    template: Template,
    lowered: Option<String>,
}

impl Needle {
    /// Compiles a needle; `case_insensitive` precomputes the lowercase form of a literal.
    pub fn new(template: Template, case_insensitive: bool) -> Needle {
        let lowered =
            (case_insensitive && template.is_literal()).then(|| template.source().to_lowercase());
        Needle { template, lowered }
    }

    /// The needle as written.
    pub fn source(&self) -> &str {
        self.template.source()
    }

    fn render<'a>(
        &'a self,
        request: &'a Request,
        case_insensitive: bool,
    ) -> Result<Cow<'a, str>, Var> {
        if let Some(lowered) = &self.lowered {
            return Ok(Cow::Borrowed(lowered.as_str()));
        }
        let rendered = self.template.render(request)?;
        if case_insensitive {
            Ok(Cow::Owned(super::fold::lowercase(&rendered).into_owned()))
        } else {
            Ok(rendered)
        }
    }
}

fn missing(var: Var) -> Finding {
    Finding::Undecidable(format!("the request has no {} to compare with", var.name()))
}

/// `equals`.
pub fn equals(expected: &Expected, request: &Request) -> Finding {
    match expected {
        Expected::Text(template) => match template.render(request) {
            Ok(text) => {
                let holds = request.output == *text;
                let detail = if holds {
                    format!("output equals {}", quote(&text))
                } else {
                    format!(
                        "output {} does not equal {}",
                        quote(&request.output),
                        quote(&text)
                    )
                };
                Finding::decided(holds, detail)
            }
            Err(var) => missing(var),
        },
        Expected::Json(value) => match serde_json::from_str::<serde_json::Value>(&request.output) {
            Ok(parsed) if parsed == *value => {
                Finding::decided(true, "output equals the expected json")
            }
            Ok(_) => Finding::decided(false, "output is json but differs from the expected json"),
            Err(error) => Finding::decided(false, format!("output is not json: {error}")),
        },
    }
}

/// The contains family; `haystack` is the output, lowercased for the `i`-variants.
pub fn contains(
    needles: &[Needle],
    mode: ContainsMode,
    case_insensitive: bool,
    haystack: &str,
    request: &Request,
) -> Finding {
    let mut found = Vec::new();
    let mut absent = Vec::new();
    for needle in needles {
        let rendered = match needle.render(request, case_insensitive) {
            Ok(rendered) => rendered,
            Err(var) => return missing(var),
        };
        if haystack.contains(rendered.as_ref()) {
            found.push(needle.source());
            if mode == ContainsMode::Any {
                break;
            }
        } else {
            absent.push(needle.source());
        }
    }
    let list = |items: &[&str]| {
        items
            .iter()
            .map(|item| quote(item))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match mode {
        ContainsMode::One | ContainsMode::All => {
            if absent.is_empty() {
                Finding::decided(true, format!("output contains {}", list(&found)))
            } else if found.is_empty() {
                Finding::decided(false, format!("output does not contain {}", list(&absent)))
            } else {
                Finding::decided(
                    false,
                    format!("output contains {} but not {}", list(&found), list(&absent)),
                )
            }
        }
        ContainsMode::Any => {
            if found.is_empty() {
                Finding::decided(false, format!("output contains none of {}", list(&absent)))
            } else {
                Finding::decided(true, format!("output contains {}", list(&found)))
            }
        }
    }
}

/// `starts-with`.
pub fn starts_with(prefix: &Template, request: &Request) -> Finding {
    match prefix.render(request) {
        Ok(prefix) => {
            let holds = request.output.starts_with(prefix.as_ref());
            let verb = if holds { "starts" } else { "does not start" };
            Finding::decided(holds, format!("output {verb} with {}", quote(&prefix)))
        }
        Err(var) => missing(var),
    }
}

/// `regex`: a match anywhere in the output.
pub fn regex_match(regex: &regex::Regex, output: &str) -> Finding {
    let holds = regex.is_match(output);
    let verb = if holds { "matches" } else { "does not match" };
    Finding::decided(holds, format!("output {verb} /{}/", regex.as_str()))
}

/// `levenshtein`: edit distance in UTF-16 code units (as promptfoo counts), bounded so huge
/// outputs stay cheap.
pub fn levenshtein(expected: &Template, max_distance: usize, request: &Request) -> Finding {
    let expected = match expected.render(request) {
        Ok(expected) => expected,
        Err(var) => return missing(var),
    };
    match super::levenshtein::bounded_distance(&request.output, &expected, max_distance) {
        Some(distance) => Finding::decided(
            true,
            format!(
                "edit distance {distance} to {} is within {max_distance}",
                quote(&expected)
            ),
        ),
        None => Finding::decided(
            false,
            format!(
                "edit distance to {} exceeds {max_distance}",
                quote(&expected)
            ),
        ),
    }
}
