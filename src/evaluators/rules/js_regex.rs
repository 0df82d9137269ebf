//! JavaScript's meaning of the class escapes in `regex` patterns, as promptfoo's
//! `new RegExp(value)` (no `u` flag) gives them: `\d`, `\w` and `\b` are ASCII, and `\s` is
//! JavaScript's whitespace list (Unicode spaces and the BOM, but not U+0085).
//!
//! Rust's `regex` makes all four Unicode-aware, so a pattern is rewritten before it is
//! compiled: `\d` → `[0-9]`, `\w` → `[0-9A-Za-z_]`, `\b` → `(?-u:\b)`, `\s` → the JavaScript
//! list (and the negated forms alike; inside a character class the members are spliced in).
//! A pattern that starts with `(?u)` is left alone and gets Rust's Unicode classes.

/// The prefix that asks for Rust's Unicode `\d \w \b \s` instead of JavaScript's.
pub const UNICODE_PREFIX: &str = "(?u)";

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
/// JavaScript's `\s` (ECMA-262 WhiteSpace and LineTerminator).
const SPACE: &str = r"\t\n\x0B\x0C\r \x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}";

/// The pattern Rust should compile for a promptfoo `regex` value.
pub fn to_rust(pattern: &str) -> String {
    if pattern.starts_with(UNICODE_PREFIX) {
        return pattern.to_string();
    }
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut class_depth = 0usize;
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => {
                let Some(escaped) = chars.next() else {
                    out.push('\\');
                    break;
                };
                match class_escape(escaped, class_depth > 0) {
                    Some(replacement) => out.push_str(&replacement),
                    None => {
                        out.push('\\');
                        out.push(escaped);
                    }
                }
            }
            '[' => {
                class_depth += 1;
                out.push('[');
                // `[^]…]` / `[]…]`: a `]` first in a class is a literal in Rust's syntax.
                if chars.peek() == Some(&'^') {
                    out.push('^');
                    chars.next();
                }
                if chars.peek() == Some(&']') {
                    out.push(']');
                    chars.next();
                }
            }
            ']' if class_depth > 0 => {
                class_depth -= 1;
                out.push(']');
            }
            _ => out.push(ch),
        }
    }
    out
}

/// The replacement of `\<escaped>`, or None to keep it as written.
fn class_escape(escaped: char, in_class: bool) -> Option<String> {
    let (members, negated) = match escaped {
        'd' => (DIGIT, false),
        'D' => (DIGIT, true),
        'w' => (WORD, false),
        'W' => (WORD, true),
        's' => (SPACE, false),
        'S' => (SPACE, true),
        // In a JavaScript class `\b` is a backspace.
        'b' if in_class => return Some(r"\x08".to_string()),
        'b' => return Some(r"(?-u:\b)".to_string()),
        'B' if !in_class => return Some(r"(?-u:\B)".to_string()),
        _ => return None,
    };
    Some(match (in_class, negated) {
        (true, false) => members.to_string(),
        // Rust nests classes: `[a[^0-9]]` is `a` or a non-digit.
        (true, true) | (false, true) => format!("[^{members}]"),
        (false, false) => format!("[{members}]"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(&to_rust(pattern))
            .unwrap_or_else(|error| panic!("{pattern}: {error}"))
            .is_match(text)
    }

    #[test]
    fn class_escapes_are_ascii_like_javascript() {
        assert!(matches(r"^\d+$", "12345"));
        assert!(
            !matches(r"^\d+$", "١٢٣"),
            "Arabic-Indic digits are not \\d in JS"
        );
        assert!(
            !matches(r"^\d$", "５"),
            "a fullwidth digit is not \\d in JS"
        );
        assert!(matches(r"^\w+$", "order_42"));
        assert!(
            !matches(r"^\w+$", "été"),
            "accented letters are not \\w in JS"
        );
        assert!(
            matches(r"\bcafé", "un café"),
            "\\b before c is an ASCII boundary"
        );
        assert!(
            !matches(r"é\b", "café"),
            "é is not a word char, so no boundary after it"
        );
        assert!(matches(r"\D\W", "é!"));
        assert!(matches(r"[\d\s]+x", "1 2\u{A0}x"));
        assert!(matches(r"[^\d]", "a"));
        assert!(!matches(r"^[\D]$", "7"));
        assert!(matches(r"[\b]", "\u{8}"));
    }

    #[test]
    fn space_is_javascripts_list() {
        assert!(matches(r"^\s$", "\u{A0}"));
        assert!(matches(r"^\s$", "\u{FEFF}"), "JS counts the BOM as space");
        assert!(!matches(r"^\s$", "\u{85}"), "JS does not count NEL");
        assert!(matches(r"^\S$", "\u{85}"));
    }

    #[test]
    fn escaped_backslashes_and_other_escapes_are_kept() {
        assert_eq!(to_rust(r"\\d"), r"\\d");
        assert_eq!(to_rust(r"a\.b\n"), r"a\.b\n");
        assert!(matches(r"\\d", r"\d"));
        assert!(matches(r"[]x]", "]"));
    }

    #[test]
    fn the_unicode_prefix_keeps_rusts_unicode_classes() {
        assert!(matches(r"(?u)^\d+$", "١٢٣"));
        assert!(matches(r"(?u)^\w+$", "été"));
    }
}
