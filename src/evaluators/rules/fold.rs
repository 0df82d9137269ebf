//! Case folding for the case-insensitive rules (`icontains*`, `is-refusal`): exactly
//! `str::to_lowercase`, but fast on the mostly-ASCII text LLMs write. The standard library folds
//! char by char once it meets the first non-ASCII character, which made one 2 KB answer with an
//! accented word cost ~10 µs per case-insensitive assertion (BENCHMARKS.md, rule throughput);
//! here ASCII runs are folded in bulk and only the other characters go through
//! `char::to_lowercase`.

use std::borrow::Cow;

/// CAPITAL SIGMA lowercases by context (final `ς` or `σ`), which only the whole-string
/// `str::to_lowercase` knows how to do.
const CAPITAL_SIGMA: char = '\u{03A3}';

/// `text.to_lowercase()`, borrowed when nothing changes.
pub fn lowercase(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    if bytes.is_ascii() {
        if bytes.iter().any(u8::is_ascii_uppercase) {
            return Cow::Owned(text.to_ascii_lowercase());
        }
        return Cow::Borrowed(text);
    }
    if text.contains(CAPITAL_SIGMA) {
        return Cow::Owned(text.to_lowercase());
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|byte| !byte.is_ascii())
            .unwrap_or(rest.len());
        let start = out.len();
        out.push_str(&rest[..ascii]);
        out[start..].make_ascii_lowercase();
        let mut chars = rest[ascii..].chars();
        match chars.next() {
            Some(ch) => out.extend(ch.to_lowercase()),
            None => break,
        }
        rest = chars.as_str();
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_library_on_mixed_text() {
        for text in [
            "",
            "plain ascii",
            "Mixed ASCII Case",
            "Été à PARIS, ÇA VA? Straße İstanbul KELVIN \u{212A} Ǆ",
            "ΣΟΦΟΣ ΟΔΥΣΣΕΥΣ and AΣ b",
            "日本語のテキスト ABC ÀÉÎÕÜ",
            "emoji 🎉 UPPER 🎉 lower",
        ] {
            assert_eq!(lowercase(text), text.to_lowercase(), "{text}");
        }
    }

    #[test]
    fn borrows_when_nothing_changes() {
        assert!(matches!(lowercase("already lower"), Cow::Borrowed(_)));
        assert!(matches!(lowercase("Upper"), Cow::Owned(_)));
    }
}
