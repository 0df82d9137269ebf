//! Bounded Levenshtein distance in UTF-16 code units, like promptfoo (`fastest-levenshtein` on
//! JavaScript strings): an emoji is two units, `é` one.
//!
//! The algorithm is Ukkonen's diagonal transition ("furthest reaching point", Landau–Vishkin):
//! for each edit count `e = 0, 1, …, max` it keeps, per diagonal `d = j - i` with `|d| <= e`, the
//! furthest row reachable with `e` edits, then slides along equal units. Work is
//! O((n + m) · max) in the worst case and O(n + max²) for similar texts; it stops as soon as
//! `max` edits cannot reach the end, so unrelated texts cost O(max²). Only the last wave
//! (2·max + 3 integers) is kept.

/// The Levenshtein distance between `a` and `b` in UTF-16 code units if it is at most `max`,
/// else None.
pub fn bounded_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b) = trim_common(a, b);
    if a.is_ascii() && b.is_ascii() {
        // ASCII bytes are UTF-16 units one for one; no conversion needed.
        return bounded_distance_units(a.as_bytes(), b.as_bytes(), max);
    }
    let (a_len, b_len) = (utf16_len(a), utf16_len(b));
    if a_len.abs_diff(b_len) > max {
        return None;
    }
    bounded_distance_units(&utf16_units(a, a_len), &utf16_units(b, b_len), max)
}

/// `text` as UTF-16 code units, allocated once at its known length.
fn utf16_units(text: &str, length: usize) -> Vec<u16> {
    let mut units = Vec::with_capacity(length);
    units.extend(text.encode_utf16());
    units
}

/// `a` and `b` without their common prefix and suffix of whole characters: they never change
/// the distance, and for near copies (the usual case) little is left to convert to UTF-16.
/// The bytes before the cut are equal in both, so a character boundary in `a` is one in `b`.
fn trim_common<'t>(a: &'t str, b: &'t str) -> (&'t str, &'t str) {
    let mut prefix = common_prefix(a.as_bytes(), b.as_bytes());
    while !a.is_char_boundary(prefix) {
        prefix -= 1;
    }
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let mut suffix = common_suffix(a.as_bytes(), b.as_bytes());
    while !a.is_char_boundary(a.len() - suffix) {
        suffix -= 1;
    }
    (&a[..a.len() - suffix], &b[..b.len() - suffix])
}

/// How many leading bytes `a` and `b` share, compared 16 at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let shared = a.len().min(b.len());
    let mut at = 0;
    while at + 16 <= shared && a[at..at + 16] == b[at..at + 16] {
        at += 16;
    }
    at + a[at..shared]
        .iter()
        .zip(&b[at..shared])
        .take_while(|(x, y)| x == y)
        .count()
}

/// How many trailing bytes `a` and `b` share, compared 16 at a time.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    let shared = a.len().min(b.len());
    let (a_end, b_end) = (a.len(), b.len());
    let mut at = 0;
    while at + 16 <= shared && a[a_end - at - 16..a_end - at] == b[b_end - at - 16..b_end - at] {
        at += 16;
    }
    at + a[..a_end - at]
        .iter()
        .rev()
        .zip(b[..b_end - at].iter().rev())
        .take(shared - at)
        .take_while(|(x, y)| x == y)
        .count()
}

/// The length of `text` in UTF-16 code units (JavaScript's `length`), without converting.
pub fn utf16_len(text: &str) -> usize {
    // Every char is one unit, plus one more for the supplementary planes (4-byte UTF-8).
    // Counted per block of 127 bytes in a `u8` (at most 2 a byte, 254 a block), which the
    // compiler vectorises; a `usize` per byte does not.
    text.as_bytes()
        .chunks(127)
        .map(|block| {
            let units = block.iter().fold(0u8, |units, &byte| {
                units + u8::from((byte & 0xC0) != 0x80) + u8::from(byte >= 0xF0)
            });
            usize::from(units)
        })
        .sum()
}

/// [`bounded_distance`] over any slices of comparable units.
pub fn bounded_distance_units<T: PartialEq>(a: &[T], b: &[T], max: usize) -> Option<usize> {
    // A common prefix and suffix never change the distance; trimming them is cheap.
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let (a, b) = (&a[prefix..], &b[prefix..]);
    let suffix = a
        .iter()
        .rev()
        .zip(b.iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a, b) = (&a[..a.len() - suffix], &b[..b.len() - suffix]);
    let rows = a.len();
    let cols = b.len();
    if rows.abs_diff(cols) > max {
        return None;
    }
    let wave = Wave { a, b, max };
    wave.run()
}

/// One run of the diagonal transition over `a` (rows `i`) and `b` (columns `j`).
struct Wave<'a, T> {
    a: &'a [T],
    b: &'a [T],
    max: usize,
}

/// Marks a diagonal that no path has reached yet.
const UNREACHED: isize = isize::MIN / 2;

impl<T: PartialEq> Wave<'_, T> {
    fn run(&self) -> Option<usize> {
        let rows = isize::try_from(self.a.len()).ok()?;
        let cols = isize::try_from(self.b.len()).ok()?;
        let max = isize::try_from(self.max).ok()?;
        let target = cols - rows;
        // furthest[d + offset] = the furthest row on diagonal d; one spare slot each side so
        // the neighbours of the outermost diagonals read as unreached.
        let offset = max + 1;
        let width = usize::try_from(2 * max + 3).ok()?;
        let mut previous = vec![UNREACHED; width];
        let mut current = vec![UNREACHED; width];
        for edits in 0..=max {
            let low = (-edits).max(-rows);
            let high = edits.min(cols);
            for diagonal in low..=high {
                let slot = usize::try_from(diagonal + offset).ok()?;
                let row = if edits == 0 {
                    0
                } else {
                    // Substitution and deletion move down a row; insertion stays on the row.
                    let substitution = previous[slot] + 1;
                    let deletion = previous[slot + 1] + 1;
                    let insertion = previous[slot - 1];
                    substitution.max(deletion).max(insertion)
                };
                // Never past the last row nor the last column of this diagonal, and never
                // above its first cell (row -diagonal for negative diagonals).
                let last_row = rows.min(cols - diagonal);
                let row = row.min(last_row);
                current[slot] = if row < (-diagonal).max(0) {
                    UNREACHED
                } else {
                    self.slide(row, diagonal, last_row)
                };
            }
            let target_slot = usize::try_from(target + offset).ok();
            if let Some(slot) = target_slot.filter(|_| target.abs() <= edits)
                && current[slot] == rows
            {
                return usize::try_from(edits).ok();
            }
            std::mem::swap(&mut previous, &mut current);
            current.fill(UNREACHED);
        }
        None
    }

    /// Follows equal units down diagonal `diagonal` from `row`, up to `last_row`.
    fn slide(&self, row: isize, diagonal: isize, last_row: isize) -> isize {
        let (Ok(start), Ok(end), Ok(shift)) = (
            usize::try_from(row),
            usize::try_from(last_row),
            usize::try_from(row + diagonal),
        ) else {
            return row;
        };
        let matched = self.a[start..end]
            .iter()
            .zip(&self.b[shift..])
            .take_while(|(x, y)| x == y)
            .count();
        row + isize::try_from(matched).unwrap_or(0)
    }
}

/// The full dynamic-programming distance, for tests to compare against.
#[cfg(test)]
pub fn plain_distance<T: PartialEq>(a: &[T], b: &[T]) -> usize {
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, x) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, y) in b.iter().enumerate() {
            current[j + 1] = (previous[j] + usize::from(x != y))
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn check(a: &str, b: &str, max: usize) {
        let a16: Vec<u16> = a.encode_utf16().collect();
        let b16: Vec<u16> = b.encode_utf16().collect();
        let full = plain_distance(&a16, &b16);
        let expected = (full <= max).then_some(full);
        assert_eq!(bounded_distance(a, b, max), expected, "{a:?} {b:?} {max}");
        assert_eq!(bounded_distance(b, a, max), expected, "{b:?} {a:?} {max}");
    }

    #[test]
    fn small_cases_match_the_full_table() {
        for (a, b) in [
            ("", ""),
            ("", "abc"),
            ("kitten", "sitting"),
            ("flaw", "lawn"),
            ("abcdef", "azced"),
            ("abab", "baba"),
            ("hello", "hallo"),
            ("a", "b"),
            ("x", ""),
        ] {
            for max in 0..8 {
                check(a, b, max);
            }
        }
    }

    #[test]
    fn distance_counts_utf16_units_like_javascript() {
        // An emoji is a surrogate pair: two units to insert, two to delete.
        assert_eq!(bounded_distance("ok", "ok🎉", 5), Some(2));
        assert_eq!(bounded_distance("été", "ete", 5), Some(2));
        // Two emoji sharing the high surrogate differ in one unit only.
        assert_eq!(bounded_distance("😀", "😁", 5), Some(1));
        // The same inside a shared prefix and suffix, which are cut on whole characters.
        let (left, right) = ("été ".repeat(20), " 注文".repeat(20));
        let a = format!("{left}😀{right}");
        let b = format!("{left}😁{right}");
        assert_eq!(bounded_distance(&a, &b, 5), Some(1));
        assert_eq!(
            bounded_distance(&format!("{left}é{right}"), &format!("{left}è{right}"), 5),
            Some(1)
        );
        assert_eq!(
            bounded_distance(&format!("{left}é{right}"), &format!("{left}{right}"), 5),
            Some(1)
        );
        assert_eq!(utf16_len("a😀é"), 4);
    }

    #[test]
    fn long_unrelated_texts_exit_early_and_long_similar_texts_stay_linear() {
        let long_a = "abc".repeat(100_000);
        let long_b = "xyz".repeat(100_000);
        assert_eq!(bounded_distance(&long_a, &long_b, 20), None);
        let mut edited = long_a.clone();
        edited.replace_range(1000..1003, "QQQ");
        edited.insert_str(200_000, "ZZ");
        assert_eq!(bounded_distance(&long_a, &edited, 20), Some(5));
    }

    proptest! {
        #[test]
        fn agrees_with_the_full_table(
            a in "[ab😀é]{0,24}",
            b in "[ab😀é]{0,24}",
            max in 0usize..12,
        ) {
            check(&a, &b, max);
        }

        #[test]
        fn agrees_on_near_copies(
            base in "[a-d ]{0,60}",
            edits in proptest::collection::vec((0usize..60, "[a-e]{0,2}"), 0..6),
            max in 0usize..10,
        ) {
            let mut other = base.clone();
            for (position, text) in edits {
                let at = position.min(other.len());
                other.replace_range(at..(at + 1).min(other.len()), &text);
            }
            check(&base, &other, max);
        }

        #[test]
        fn utf16_len_is_javascripts_length(text in "(.|[a😀é注]){0,400}") {
            proptest::prop_assert_eq!(utf16_len(&text), text.encode_utf16().count());
        }
    }
}
