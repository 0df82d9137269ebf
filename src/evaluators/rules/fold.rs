//! Case folding for the case-insensitive rules (`icontains*`, `is-refusal`): exactly
//! `str::to_lowercase`, but fast on the mostly-ASCII text LLMs write. The standard library folds
//! char by char once it meets the first non-ASCII character, which made one 2 KB answer with an
//! accented word cost ~10 µs per case-insensitive assertion (BENCHMARKS.md, rule throughput);
//! here ASCII runs are skipped 16 bytes at a time and folded in bulk, a bit table says which
//! other characters keep their form, and only the rest go through `char::to_lowercase`.

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
    // One pass: runs of characters that keep their form (ASCII capitals aside) are copied
    // whole, ASCII skipped 16 bytes at a time; only characters with another lowercase form go
    // through the case table. The ASCII capitals are folded at the end in bulk (nothing a case
    // mapping produced is affected).
    let mut out = String::with_capacity(text.len());
    let mut run_start = 0;
    let mut at = 0;
    while at < bytes.len() {
        at += ascii_run(&bytes[at..]);
        // `at` follows ASCII bytes, so it is a character boundary.
        let Some(ch) = text.get(at..).and_then(|rest| rest.chars().next()) else {
            break;
        };
        let width = ch.len_utf8();
        if !keeps_its_form(ch) {
            out.push_str(&text[run_start..at]);
            out.extend(ch.to_lowercase());
            run_start = at + width;
        }
        at += width;
    }
    out.push_str(&text[run_start..]);
    out.make_ascii_lowercase();
    Cow::Owned(out)
}

/// How many ASCII bytes `bytes` starts with, looked at 16 at a time.
fn ascii_run(bytes: &[u8]) -> usize {
    const HIGH_BITS: u128 = u128::from_ne_bytes([0x80; 16]);
    let mut blocks = bytes.chunks_exact(16);
    let mut at = 0;
    for block in blocks.by_ref() {
        let mut word = [0u8; 16];
        word.copy_from_slice(block);
        if u128::from_ne_bytes(word) & HIGH_BITS != 0 {
            break;
        }
        at += 16;
    }
    at + bytes[at..]
        .iter()
        .take_while(|byte| byte.is_ascii())
        .count()
}

/// Whether `text` contains any of `chars`: one SIMD substring search per character, where
/// `str::contains(&[char])` decodes every character of the text.
pub fn contains_any(text: &str, chars: &[char]) -> bool {
    chars.iter().any(|ch| {
        let mut buffer = [0u8; 4];
        let encoded = ch.encode_utf8(&mut buffer);
        memchr::memmem::find(text.as_bytes(), encoded.as_bytes()).is_some()
    })
}

/// The emoji and pictograph blocks of the supplementary planes: no character there has a
/// lowercase form other than itself (the test checks each), so they skip the case table.
const CASELESS_EMOJI: std::ops::RangeInclusive<u32> = 0x1F000..=0x1FAFF;

/// Whether `ch` lowercases to itself: looked up in a table of the Basic Multilingual Plane
/// (built once from `char::to_lowercase`), or for the other planes the caseless emoji and
/// symbol blocks, else any lowercase letter (the test checks every character).
fn keeps_its_form(ch: char) -> bool {
    match u16::try_from(u32::from(ch)) {
        Ok(code) => {
            BMP_KEEPS.get_or_init(bmp_keeps)[usize::from(code >> 6)] & (1 << (code & 63)) != 0
        }
        Err(_) => CASELESS_EMOJI.contains(&u32::from(ch)) || ch.is_lowercase(),
    }
}

/// One bit per character of the Basic Multilingual Plane: set when it lowercases to itself.
static BMP_KEEPS: std::sync::OnceLock<Box<[u64; 1024]>> = std::sync::OnceLock::new();

fn bmp_keeps() -> Box<[u64; 1024]> {
    let mut bits = Box::new([0u64; 1024]);
    for code in 0..=u16::MAX {
        // Surrogate code points are not characters and never occur in a `str`.
        let Some(ch) = char::from_u32(u32::from(code)) else {
            continue;
        };
        if ch.to_lowercase().eq(std::iter::once(ch)) {
            bits[usize::from(code >> 6)] |= 1 << (code & 63);
        }
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_character_of_the_caseless_emoji_blocks_lowercases_to_itself() {
        for ch in CASELESS_EMOJI.filter_map(char::from_u32) {
            assert!(
                ch.to_lowercase().eq(std::iter::once(ch)),
                "U+{:04X} has a lowercase form",
                u32::from(ch)
            );
        }
    }

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
    fn every_character_said_to_keep_its_form_does() {
        for ch in (0..=0x10FFFF).filter_map(char::from_u32) {
            if keeps_its_form(ch) {
                assert!(
                    ch.to_lowercase().eq(std::iter::once(ch)),
                    "U+{:04X} changes when lowercased",
                    u32::from(ch)
                );
            }
        }
    }

    #[test]
    fn the_table_knows_every_character_of_the_basic_plane_exactly() {
        for ch in (0..=0xFFFF).filter_map(char::from_u32) {
            assert_eq!(
                keeps_its_form(ch),
                ch.to_lowercase().eq(std::iter::once(ch)),
                "U+{:04X}",
                u32::from(ch)
            );
        }
    }

    #[test]
    fn ascii_runs_end_at_the_first_other_byte_wherever_it_is() {
        for length in 0..40 {
            let ascii = "a".repeat(length);
            assert_eq!(ascii_run(ascii.as_bytes()), length);
            for at in 0..length {
                let mut text = ascii.clone();
                text.replace_range(at..at + 1, "é");
                assert_eq!(ascii_run(text.as_bytes()), at, "{text}");
            }
        }
    }

    #[test]
    fn contains_any_agrees_with_the_standard_search() {
        let marks = ['\u{2019}', '\u{2032}', '`'];
        for text in [
            "",
            "plain",
            "don\u{2019}t",
            "x\u{2032}",
            "a`b",
            "✅ 注文 \u{2018}",
            "\u{2033}",
        ] {
            assert_eq!(contains_any(text, &marks), text.contains(marks), "{text}");
        }
    }

    proptest::proptest! {
        #[test]
        fn matches_the_standard_library_on_any_text(text in ".{0,200}") {
            proptest::prop_assert_eq!(lowercase(&text), text.to_lowercase());
        }

        #[test]
        fn matches_the_standard_library_on_mostly_ascii_text(
            text in "([a-zA-Z .,]{0,40}(É|é|İ|Σ|٣|２|Ａ|注|🎉|ǅ|Ⅻ|Ⓐ|\\PC))*"
        ) {
            proptest::prop_assert_eq!(lowercase(&text), text.to_lowercase());
        }
    }

    #[test]
    fn borrows_when_nothing_changes() {
        assert!(matches!(lowercase("already lower"), Cow::Borrowed(_)));
        assert!(matches!(lowercase("Upper"), Cow::Owned(_)));
    }
}
