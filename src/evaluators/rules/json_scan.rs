//! JSON the way JavaScript's `JSON.parse` accepts it, and the `contains-json` scanner.
//!
//! `JSON.parse` accepts two things serde_json rejects: numbers beyond the f64 range (`1e400`
//! becomes `Infinity`) and `\u` escapes of lone surrogates (`"\ud800"`). Validity is therefore
//! checked with serde_json's syntax-only pass (`IgnoredAny`), which accepts both; a value for a
//! JSON Schema is built strictly when possible, else from a copy where each out-of-range
//! number becomes ±`f64::MAX` and each lone surrogate escape becomes `\ufffd` (JavaScript would
//! see `±Infinity` and the lone unit; see evals/README.md).
//!
//! The scanner finds objects inside prose: from each `{` (left to right, skipping the inside of
//! objects already found) it reads one JSON value with serde_json's streaming reader, which
//! stops at the object's end, so braces inside strings and a quoted `{` earlier in the prose
//! cannot hide an object. A start that is not an object costs the bytes read before the error;
//! the total is capped at [`SCAN_BUDGET_FACTOR`]× the output (plus 64 KiB), and a scan that hits
//! the cap is reported as such (the rule becomes unscorable), never silently cut short.

use serde::de::IgnoredAny;
use serde_json::Value;

/// Bytes parsed per output byte before the scan gives up (loudly).
pub const SCAN_BUDGET_FACTOR: usize = 16;

/// Extra bytes of budget, so short outputs with many braces are always scanned in full.
const SCAN_BUDGET_FLOOR: usize = 64 * 1024;

/// The scan read more than its budget; the objects found before that are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// Where the scan stopped (byte offset).
    pub at: usize,
    /// Objects found before stopping.
    pub found: usize,
}

/// Whether `text` is one JSON value as `JSON.parse` accepts it (JSON whitespace around it).
/// Parsed from `&str`, not bytes: serde_json re-validates UTF-8 of every string of a slice.
pub fn is_valid(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Parses one JSON value as `JSON.parse` would accept it; the error says why not.
pub fn parse(text: &str) -> Result<Value, String> {
    let strict_error = match serde_json::from_str::<Value>(text) {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    if !is_valid(text) {
        return Err(strict_error.to_string());
    }
    serde_json::from_slice::<Value>(&javascript_values(text.as_bytes()))
        .map_err(|error| error.to_string())
}

/// Byte ranges of the JSON objects inside `text`, leftmost first, non-overlapping.
pub fn object_ranges(text: &str) -> Result<Vec<(usize, usize)>, BudgetExceeded> {
    let bytes = text.as_bytes();
    let budget = bytes
        .len()
        .saturating_mul(SCAN_BUDGET_FACTOR)
        .saturating_add(SCAN_BUDGET_FLOOR);
    let mut spent = 0usize;
    let mut ranges = Vec::new();
    let mut position = 0;
    while let Some(found) = memchr::memchr(b'{', &bytes[position..]) {
        let start = position + found;
        let rest = &bytes[start..];
        // `{` is ASCII, so `start` is a character boundary of `text`.
        let mut stream =
            serde_json::Deserializer::from_str(&text[start..]).into_iter::<IgnoredAny>();
        match stream.next() {
            Some(Ok(_)) => {
                let length = stream.byte_offset();
                ranges.push((start, start + length));
                spent = spent.saturating_add(length);
                position = start + length;
            }
            Some(Err(error)) => {
                spent = spent.saturating_add(error_offset(rest, &error));
                position = start + 1;
            }
            None => break,
        }
        if spent > budget {
            return Err(BudgetExceeded {
                at: position,
                found: ranges.len(),
            });
        }
    }
    Ok(ranges)
}

/// The byte offset in `text` of a serde_json error (its 1-based line and column).
fn error_offset(text: &[u8], error: &serde_json::Error) -> usize {
    let mut line_start = 0;
    for _ in 1..error.line() {
        match text[line_start..].iter().position(|&byte| byte == b'\n') {
            Some(newline) => line_start += newline + 1,
            None => return text.len(),
        }
    }
    (line_start + error.column()).min(text.len())
}

/// A copy of valid JSON where out-of-range numbers become ±`f64::MAX` and lone surrogate
/// escapes become `\ufffd`, so serde_json can build a value from it.
fn javascript_values(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'"' {
            index = copy_string(bytes, index, &mut out);
        } else if byte == b'-' || byte.is_ascii_digit() {
            let end = bytes[index..]
                .iter()
                .position(|b| !matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                .map_or(bytes.len(), |length| index + length);
            let number = &bytes[index..end];
            let parsed = std::str::from_utf8(number)
                .ok()
                .and_then(|text| text.parse::<f64>().ok());
            match parsed {
                Some(value) if value.is_infinite() => {
                    let clamped = if value > 0.0 { f64::MAX } else { f64::MIN };
                    out.extend_from_slice(format!("{clamped:e}").as_bytes());
                }
                _ => out.extend_from_slice(number),
            }
            index = end;
        } else {
            out.push(byte);
            index += 1;
        }
    }
    out
}

/// Copies the string starting at `bytes[start] == '"'`; returns the index after it.
fn copy_string(bytes: &[u8], start: usize, out: &mut Vec<u8>) -> usize {
    out.push(b'"');
    let mut index = start + 1;
    while index < bytes.len() {
        let byte = bytes[index];
        if byte == b'"' {
            out.push(byte);
            return index + 1;
        }
        if byte != b'\\' {
            out.push(byte);
            index += 1;
            continue;
        }
        if bytes.get(index + 1) != Some(&b'u') {
            out.extend_from_slice(&bytes[index..(index + 2).min(bytes.len())]);
            index += 2;
            continue;
        }
        let unit = hex_unit(bytes, index + 2);
        let next = hex_unit(bytes, index + 8).filter(|_| bytes.get(index + 6) == Some(&b'\\'));
        match (unit, next) {
            (Some(0xD800..=0xDBFF), Some(0xDC00..=0xDFFF)) => {
                out.extend_from_slice(&bytes[index..index + 12]);
                index += 12;
            }
            (Some(0xD800..=0xDFFF), _) => {
                out.extend_from_slice(b"\\ufffd");
                index += 6;
            }
            _ => {
                let end = (index + 6).min(bytes.len());
                out.extend_from_slice(&bytes[index..end]);
                index = end;
            }
        }
    }
    index
}

/// The four hex digits at `bytes[at..at + 4]` as a UTF-16 unit.
fn hex_unit(bytes: &[u8], at: usize) -> Option<u32> {
    let digits = std::str::from_utf8(bytes.get(at..at + 4)?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_parse_accepts_huge_numbers_and_lone_surrogates() {
        for text in [
            "1e400",
            "-1e400",
            r#"{"n": 1e400}"#,
            r#""\ud800""#,
            r#"{"s": "a\udc00b"}"#,
            r#"["\ud83d\ude00", "\ud83d x"]"#,
        ] {
            assert!(is_valid(text), "{text}");
            assert!(parse(text).is_ok(), "{text}");
        }
        assert_eq!(
            parse(r#"{"n": 1e400, "m": -2e999}"#).unwrap(),
            serde_json::json!({"n": f64::MAX, "m": f64::MIN})
        );
        assert_eq!(
            parse(r#"["\ud800", "\ud83d\ude00"]"#).unwrap(),
            serde_json::json!(["\u{FFFD}", "😀"])
        );
        for text in ["", "{", "{'a': 1}", "NaN", "[1,]", "01", "\u{FEFF}{}"] {
            assert!(!is_valid(text), "{text:?}");
            assert!(parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_quoted_brace_in_prose_does_not_hide_the_object_after_it() {
        let text = r#"Type "{" to start, then send {"a": 1}"#;
        let ranges = object_ranges(text).unwrap();
        assert_eq!(ranges.len(), 1);
        let (start, end) = ranges[0];
        assert_eq!(&text[start..end], r#"{"a": 1}"#);
    }

    #[test]
    fn objects_are_found_left_to_right_without_overlap() {
        let text = r#"{not json {"a":{"b":"}"}} and {"c": [1, {"d": 2}]} {"#;
        let found: Vec<&str> = object_ranges(text)
            .unwrap()
            .into_iter()
            .map(|(start, end)| &text[start..end])
            .collect();
        assert_eq!(found, [r#"{"a":{"b":"}"}}"#, r#"{"c": [1, {"d": 2}]}"#]);
    }

    #[test]
    fn many_candidates_are_all_tried_with_no_silent_cap() {
        let mut text = "{x ".repeat(5_000);
        text.push_str(r#"{"late": true}"#);
        assert_eq!(object_ranges(&text).unwrap().len(), 1);
    }

    #[test]
    fn a_scan_over_budget_says_so() {
        // Every start reads deep into the text before failing: quadratic, so it is cut off.
        let text = format!("{}{}", r#"{"a":"#.repeat(100_000), "x");
        let error = object_ranges(&text).unwrap_err();
        assert_eq!(error.found, 0);
        assert!(error.at < text.len());
    }
}
