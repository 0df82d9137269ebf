//! The nine-assertion promptfoo-style mix of issue 14 and a generator of its input rows: ~2 KB
//! responses with realistic unicode (accented Latin, CJK, emoji), mostly JSON answers, some
//! prose with an embedded JSON object, some refusals; the `reference` is a near copy of the
//! output for most rows (so levenshtein passes) and unrelated text for the rest.

use std::io::Write;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// icontains, not-icontains, a `\b…\d…\b` regex, is-json with a schema, contains-json,
/// starts-with, levenshtein against the reference (threshold 20), a length bound and
/// not-is-refusal.
pub const MIX_SUITE: &str = r#"
name: mix
assert:
  - type: icontains
    value: order
  - type: not-icontains
    value: lawsuit
  - type: regex
    value: "\\b[A-Z]-\\d{5}\\b"
  - type: is-json
    schema:
      type: object
      required: [order_id, status, answer]
      properties:
        order_id: {type: string, pattern: "^[A-Z]-[0-9]{5}$"}
        status: {enum: [processing, shipped, delivered, refunded, cancelled]}
        answer: {type: string, minLength: 1}
  - type: contains-json
  - type: starts-with
    value: "{"
  - type: levenshtein
    threshold: 20
  - type: char-length
    value: {max: 2500}
  - type: not-is-refusal
"#;

const WORDS: &[&str] = &[
    "your",
    "order",
    "has",
    "shipped",
    "and",
    "should",
    "arrive",
    "within",
    "three",
    "business",
    "days",
    "tracking",
    "number",
    "is",
    "available",
    "in",
    "account",
    "thanks",
    "for",
    "waiting",
    "we",
    "apologise",
    "delay",
    "carrier",
    "warehouse",
    "refund",
    "processed",
    "Friday",
    "été",
    "déjà",
    "Straße",
    "naïve",
    "café",
    "señor",
    "配送",
    "注文",
    "ありがとう",
    "📦",
    "🚚",
    "✅",
    "Zürich",
    "København",
    "İstanbul",
    "١٢٣",
    "２０２６",
];

const STATUSES: &[&str] = &[
    "processing",
    "shipped",
    "delivered",
    "refunded",
    "cancelled",
];

fn answer_text(rng: &mut ChaCha8Rng, bytes: usize) -> String {
    let mut answer = String::with_capacity(bytes + 16);
    while answer.len() < bytes {
        answer.push_str(WORDS[rng.random_range(0..WORDS.len())]);
        answer.push(if rng.random_range(0..12) == 0 {
            '.'
        } else {
            ' '
        });
        if answer.ends_with('.') {
            answer.push(' ');
        }
    }
    answer.trim_end().to_string()
}

/// A near copy of `text`: a few words replaced (distance well under 20).
fn near_copy(rng: &mut ChaCha8Rng, text: &str) -> String {
    let mut words: Vec<&str> = text.split(' ').collect();
    for _ in 0..rng.random_range(0..3) {
        let at = rng.random_range(0..words.len());
        words[at] = "ok";
    }
    words.join(" ")
}

/// The output and reference of row `index`.
fn row_texts(rng: &mut ChaCha8Rng, index: usize) -> (String, String) {
    let order = format!("A-{:05}", rng.random_range(0..100_000));
    let answer = answer_text(rng, 1_850);
    let output = match index % 20 {
        17 => format!("Your order {order} is delayed: {answer}"),
        18 => format!(
            "Here is the summary you asked for. {} {{\"order_id\": \"{order}\", \"status\": \"shipped\"}}",
            answer_text(rng, 1_700)
        ),
        19 => format!("I'm sorry, but I can't help with that request. {answer}"),
        _ => serde_json::json!({
            "order_id": order,
            "status": STATUSES[index % STATUSES.len()],
            "answer": answer,
        })
        .to_string(),
    };
    let reference = if index % 5 == 4 {
        answer_text(rng, 400)
    } else {
        near_copy(rng, &output)
    };
    (output, reference)
}

/// Writes `count` request rows as JSONL; returns the bytes written.
pub fn write_rows(out: &mut impl Write, count: usize, seed: u64) -> std::io::Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut written = 0u64;
    for index in 0..count {
        let (output, reference) = row_texts(&mut rng, index);
        let row = serde_json::json!({
            "request_id": format!("r{index}"),
            "ts": "2026-11-02T10:00:00Z",
            "tenant_id": format!("t{}", index % 50),
            "arm": if index % 2 == 0 { "baseline" } else { "canary" },
            "model": "support-bot@v2",
            "input": "Where is my order? ¿Dónde está mi pedido? 注文はどこですか",
            "output": output,
            "reference": reference,
            "status": "ok",
            "latency_ms": 800.0,
            "prompt_tokens": 100,
            "completion_tokens": 400,
            "cost_usd": 0.001,
        });
        let line = row.to_string();
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        written += line.len() as u64 + 1;
    }
    Ok(written)
}
