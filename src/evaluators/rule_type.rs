//! The closed set of rule assertion types. One macro line per type declares the variant and
//! its `type:` name together, so the list of names can never hold a type the compiler does not
//! know: `compile::rule_kind` matches on [`RuleType`] exhaustively, and a new variant without a
//! compile arm is a build error, not an assertion silently dropped at load.

macro_rules! rule_types {
    ($($variant:ident => $name:literal,)*) => {
        /// A rule assertion type (without `not-`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum RuleType {
            $(
                #[doc = concat!("`", $name, "`")]
                $variant,
            )*
        }

        impl RuleType {
            /// Every rule type, in the order they are documented.
            pub const ALL: &'static [RuleType] = &[$(RuleType::$variant,)*];

            /// The name written after `type:`.
            pub fn name(self) -> &'static str {
                match self {
                    $(RuleType::$variant => $name,)*
                }
            }
        }
    };
}

rule_types! {
    Equals => "equals",
    Contains => "contains",
    IContains => "icontains",
    ContainsAny => "contains-any",
    ContainsAll => "contains-all",
    IContainsAny => "icontains-any",
    IContainsAll => "icontains-all",
    StartsWith => "starts-with",
    Regex => "regex",
    IsJson => "is-json",
    ContainsJson => "contains-json",
    WordCount => "word-count",
    CharLength => "char-length",
    MaxCompletionTokens => "max-completion-tokens",
    Latency => "latency",
    Cost => "cost",
    Levenshtein => "levenshtein",
    IsRefusal => "is-refusal",
}

impl RuleType {
    /// The type named `name` (without `not-`), if it is a rule type.
    pub fn parse(name: &str) -> Option<RuleType> {
        RuleType::ALL
            .iter()
            .copied()
            .find(|rule_type| rule_type.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_type_parses_back_from_its_unique_name() {
        for rule_type in RuleType::ALL {
            assert_eq!(RuleType::parse(rule_type.name()), Some(*rule_type));
        }
        let mut names: Vec<&str> = RuleType::ALL.iter().map(|t| t.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RuleType::ALL.len(), "duplicate rule type name");
        assert_eq!(RuleType::parse("llm-rubric"), None);
        assert_eq!(RuleType::parse("not-equals"), None);
    }
}
