//! `{{input}}`, `{{output}}` and `{{reference}}` templating for rule values and judge rubrics.
//! Parsed once at load (unknown variables are load errors); rendered per request.

use std::borrow::Cow;

use crate::domain::Request;

/// A variable a template may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Var {
    /// The request messages.
    Input,
    /// The response text.
    Output,
    /// The expected answer (may be missing on a request).
    Reference,
}

impl Var {
    /// The name written between the braces.
    pub fn name(self) -> &'static str {
        match self {
            Var::Input => "input",
            Var::Output => "output",
            Var::Reference => "reference",
        }
    }

    fn parse(name: &str) -> Option<Var> {
        match name {
            "input" => Some(Var::Input),
            "output" => Some(Var::Output),
            "reference" => Some(Var::Reference),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Var(Var),
}

/// A parsed template. A template without variables renders to itself without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

/// Why a template could not be parsed; `offset` is the byte offset in the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset of the problem in the template text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

impl Template {
    /// Parses `{{ name }}` placeholders; only `input`, `output` and `reference` exist.
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut consumed = 0usize;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let after = &rest[open + 2..];
            let Some(close) = after.find("}}") else {
                return Err(TemplateError {
                    offset: consumed + open,
                    message: "unclosed template variable `{{`".to_string(),
                });
            };
            let name = after[..close].trim();
            let Some(var) = Var::parse(name) else {
                return Err(TemplateError {
                    offset: consumed + open,
                    message: format!(
                        "unknown template variable `{{{{{name}}}}}` (only {{{{input}}}}, {{{{output}}}} and {{{{reference}}}} exist)"
                    ),
                });
            };
            parts.push(Part::Var(var));
            let used = open + 2 + close + 2;
            consumed += used;
            rest = &rest[used..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    /// The template as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the template names `var`.
    pub fn uses(&self, var: Var) -> bool {
        self.parts.contains(&Part::Var(var))
    }

    /// Whether the template has no variables at all.
    pub fn is_literal(&self) -> bool {
        !self.parts.iter().any(|part| matches!(part, Part::Var(_)))
    }

    /// Renders against a request. Fails with the missing variable's name when the template
    /// names `{{reference}}` and the request has none. A template that is one variable alone
    /// (`{{reference}}`, levenshtein's default) borrows the request's text.
    pub fn render<'a>(&'a self, request: &'a Request) -> Result<Cow<'a, str>, Var> {
        if self.is_literal() {
            return Ok(Cow::Borrowed(self.source.as_str()));
        }
        if let [Part::Var(var)] = self.parts.as_slice() {
            return match var {
                Var::Input => Ok(Cow::Borrowed(&request.input)),
                Var::Output => Ok(Cow::Borrowed(&request.output)),
                Var::Reference => request
                    .reference
                    .as_deref()
                    .map(Cow::Borrowed)
                    .ok_or(Var::Reference),
            };
        }
        let mut text = String::with_capacity(self.source.len());
        for part in &self.parts {
            match part {
                Part::Text(literal) => text.push_str(literal),
                Part::Var(Var::Input) => text.push_str(&request.input),
                Part::Var(Var::Output) => text.push_str(&request.output),
                Part::Var(Var::Reference) => match &request.reference {
                    Some(reference) => text.push_str(reference),
                    None => return Err(Var::Reference),
                },
            }
        }
        Ok(Cow::Owned(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluators::rules::test_request;

    #[test]
    fn a_template_renders_every_variable_and_tolerates_spaces() {
        let template = Template::parse("in={{input}} out={{ output }} ref={{reference}}.").unwrap();
        let mut request = test_request("the answer");
        request.input = "q".to_string();
        request.reference = Some("A-1".to_string());
        assert_eq!(
            template.render(&request).unwrap(),
            "in=q out=the answer ref=A-1."
        );
        assert!(template.uses(Var::Reference));
    }

    #[test]
    fn a_missing_reference_is_reported_not_rendered_empty() {
        let template = Template::parse("{{reference}}").unwrap();
        let request = test_request("x");
        assert_eq!(template.render(&request), Err(Var::Reference));
    }

    #[test]
    fn unknown_and_unclosed_variables_are_errors_with_offsets() {
        let error = Template::parse("hello {{ouput}}").unwrap_err();
        assert_eq!(error.offset, 6);
        assert!(
            error
                .message
                .contains("unknown template variable `{{ouput}}`")
        );
        let error = Template::parse("a {{input").unwrap_err();
        assert_eq!(error.offset, 2);
        assert!(error.message.contains("unclosed"));
    }

    #[test]
    fn a_literal_template_renders_without_allocating() {
        let template = Template::parse("plain {single} braces").unwrap();
        assert!(template.is_literal());
        assert!(matches!(
            template.render(&test_request("")),
            Ok(Cow::Borrowed(_))
        ));
    }

    #[test]
    fn a_lone_variable_borrows_the_request_text() {
        let mut request = test_request("the output");
        request.input = "the input".to_string();
        request.reference = Some("the reference".to_string());
        for (source, expected) in [
            ("{{input}}", "the input"),
            ("{{ output }}", "the output"),
            ("{{reference}}", "the reference"),
        ] {
            let template = Template::parse(source).unwrap();
            let rendered = template.render(&request).unwrap();
            assert!(matches!(rendered, Cow::Borrowed(_)), "{source}");
            assert_eq!(rendered, expected);
        }
        // With text around it, the variable is copied into a new string.
        let template = Template::parse("[{{output}}]").unwrap();
        let rendered = template.render(&request).unwrap();
        assert_eq!(rendered, "[the output]");
    }
}
