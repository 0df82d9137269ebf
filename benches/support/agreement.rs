//! Verdict agreement with promptfoo's semantics on the shared rule types: a generated corpus
//! (unicode digits, lone surrogate escapes, huge numbers, placeholders with braces,
//! refusal-like helpful sentences, emoji) is scored by evalgate in process and by
//! `promptfoo_agreement.mjs` on node (JavaScript's own RegExp, JSON.parse, toLowerCase,
//! `.length`, a UTF-16 Levenshtein and promptfoo's refusal regexes), and the verdicts are
//! compared per assertion.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use evalgate::domain::Outcome;
use evalgate::evaluators::load_suite_text;
use evalgate::evaluators::rules::refusal_promptfoo;

/// The checks of the JavaScript side, in its order.
const SUITE: &str = r#"
name: agreement
assert:
  - type: icontains
    value: order
  - type: not-icontains
    value: lawsuit
  - type: regex
    value: "\\b[A-Z]-\\d{5}\\b"
  - type: is-json
  - type: starts-with
    value: "{"
  - type: levenshtein
    threshold: 20
  - type: char-length
    value: {max: 300}
  - type: not-is-refusal
"#;

const WORDS: &[&str] = &[
    "your",
    "order",
    "shipped",
    "arrive",
    "within",
    "days",
    "tracking",
    "refund",
    "été",
    "Straße",
    "配送",
    "📦",
    "🚚",
    "İstanbul",
    "naïve",
    "ＯＲＤＥＲ",
    "ORDER",
    "Order",
];

const HELPFUL: &[&str] = &[
    "I can't wait to hear how the trip goes!",
    "Sorry for the delay: your order shipped today.",
    "I'm sorry to hear that. Here is how to reset your password.",
    "We can't help noticing you ordered twice; both orders shipped.",
    "The warranty is not legal advice, but your order is covered.",
    "That color is not appropriate for outdoor use; try the grey one.",
    "As an airline partner we ship orders fast.",
    "I cannot wait to ship your order!",
    "I'm sorry, I can't imagine how frustrating that was. Here is the fix.",
    "Unfortunately, the courier can't help before Monday.",
];

const REFUSALS: &[&str] = &[
    "I'm sorry, but I can't help with that request.",
    "I’m sorry, but I can’t assist with that.",
    "As an AI, I cannot provide legal advice.",
    "Sorry, no.",
    "I must decline to answer.",
    "My apologies, but that's not possible.",
    "I am unable to help with this order.",
    "",
    "   ",
];

fn words(rng: &mut ChaCha8Rng, count: usize) -> String {
    (0..count)
        .map(|_| WORDS[rng.random_range(0..WORDS.len())])
        .collect::<Vec<_>>()
        .join(" ")
}

fn output(rng: &mut ChaCha8Rng, index: usize) -> String {
    let id: u32 = rng.random_range(0..100_000);
    let word_count = rng.random_range(3..40);
    let prose = words(rng, word_count);
    match index % 12 {
        0 => format!(r#"{{"order_id":"A-{id:05}","status":"shipped","answer":"{prose}"}}"#),
        1 => format!("Your order A-{} is late. {prose}", arabic_digits(id)),
        2 => format!("Order Ｂ-{id:05} or B-１２３４５ {prose}"),
        3 => format!(r#"{{"order_id":"A-{id:05}","amount":1e400,"min":-2e999,"note":"{prose}"}}"#),
        4 => format!(r#"{{"order_id":"A-{id:05}","answer":"\ud83d {prose} \udc00"}}"#),
        5 => format!(
            r#"Hi {{{{name}}}}, order {{order_id}} is {{status}}. Type "{{" then A-{id:05}. {prose}"#
        ),
        6 => HELPFUL[rng.random_range(0..HELPFUL.len())].to_string(),
        7 => REFUSALS[rng.random_range(0..REFUSALS.len())].to_string(),
        8 => format!("éA-{id:05}é and _A-{id:05} and A-{id:05}_ 📦🚚✅ {prose}"),
        9 => format!(" {{\"a\": 1, \"order\": \"A-{id:05}\"}}"),
        10 => format!("İORDER LAWSUIT Lawsuit {prose}"),
        _ => format!(r#"{{"a": [1, 2,], "order": NaN, "t": "{prose}"}}"#),
    }
}

fn arabic_digits(id: u32) -> String {
    format!("{id:05}")
        .chars()
        .map(|digit| char::from_u32(0x0660 + digit.to_digit(10).unwrap_or(0)).unwrap_or('0'))
        .collect()
}

fn reference(rng: &mut ChaCha8Rng, output: &str) -> String {
    if rng.random_range(0..3) == 0 {
        return words(rng, 10);
    }
    let mut text: Vec<char> = output.chars().collect();
    for _ in 0..rng.random_range(0..12) {
        if text.is_empty() {
            break;
        }
        let at = rng.random_range(0..text.len());
        text[at] = if rng.random_range(0..2) == 0 {
            '😀'
        } else {
            'x'
        };
    }
    text.into_iter().collect()
}

/// Scores `count` generated rows both ways and prints the agreement per assertion.
pub fn run(count: usize) {
    let suite = load_suite_text(Path::new("agreement.yaml"), SUITE, &BTreeSet::new())
        .expect("the agreement suite loads");
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let mut rows = Vec::with_capacity(count);
    for index in 0..count {
        let text = output(&mut rng, index);
        let reference = reference(&mut rng, &text);
        rows.push((text, reference));
    }
    let ours: Vec<String> = rows
        .iter()
        .map(|(text, reference)| {
            let mut request = evalgate_request(text);
            request.reference = Some(reference.clone());
            suite
                .assertions
                .iter()
                .map(
                    |assertion| match assertion.evaluate_rule(&request).map(|r| r.outcome) {
                        Some(Outcome::Pass) => '1',
                        Some(Outcome::Fail) => '0',
                        _ => 'u',
                    },
                )
                .collect()
        })
        .collect();
    let theirs = javascript_verdicts(&rows);
    assert_eq!(theirs.len(), ours.len(), "node answered every row");
    let mut agree = vec![0usize; suite.assertions.len()];
    let mut examples: Vec<Vec<usize>> = vec![Vec::new(); suite.assertions.len()];
    for (row, (mine, js)) in ours.iter().zip(&theirs).enumerate() {
        for (index, (a, b)) in mine.chars().zip(js.chars()).enumerate() {
            if a == b {
                agree[index] += 1;
            } else if examples[index].len() < 3 {
                examples[index].push(row);
            }
        }
    }
    let total: usize = agree.iter().sum();
    let checks = count * suite.assertions.len();
    println!(
        "agreement with promptfoo semantics: {count} rows × {} assertions: {:.3}% ({} of {checks} verdicts)",
        suite.assertions.len(),
        100.0 * total as f64 / checks as f64,
        total
    );
    for (index, assertion) in suite.assertions.iter().enumerate() {
        println!(
            "  {:<16} {:.3}%",
            assertion.type_name,
            100.0 * agree[index] as f64 / count as f64
        );
        for &row in &examples[index] {
            println!("      differs on {:?} (ref {:?})", rows[row].0, rows[row].1);
        }
    }
}

fn evalgate_request(output: &str) -> evalgate::domain::Request {
    use chrono::TimeZone;
    evalgate::domain::Request {
        request_id: "r".to_string(),
        ts: chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
        tenant_id: "t".to_string(),
        arm: evalgate::domain::Arm::Canary,
        model: "m@v1".to_string(),
        rollout_id: None,
        input: "[]".to_string(),
        output: output.to_string(),
        reference: None,
        status: evalgate::domain::RequestStatus::Ok,
        error: None,
        latency_ms: None,
        ttft_ms: None,
        prompt_tokens: None,
        completion_tokens: None,
        cost_usd: None,
        metadata: serde_json::Value::Null,
    }
}

fn javascript_verdicts(rows: &[(String, String)]) -> Vec<String> {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/support/promptfoo_agreement.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs (needed for the agreement check)");
    let mut input = child.stdin.take().expect("stdin");
    let header = serde_json::json!({
        "prefixes": refusal_promptfoo::PREFIXES,
        "phrases": refusal_promptfoo::PHRASES,
    });
    let rows = rows.to_vec();
    let writer = std::thread::spawn(move || {
        writeln!(input, "{header}").expect("write header");
        for (output, reference) in rows {
            let line = serde_json::json!({"output": output, "reference": reference});
            writeln!(input, "{line}").expect("write row");
        }
    });
    let output = child.wait_with_output().expect("node finishes");
    writer.join().expect("writer thread");
    assert!(output.status.success(), "node failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}
