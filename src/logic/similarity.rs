//! Text similarity for the human review: which baseline response to show next to a failed
//! canary response. Pure: token-set overlap (Jaccard) over lowercased words, preferring the same
//! tenant. Also pulls the readable prompt out of an OpenAI `messages` JSON input.

use std::collections::BTreeSet;

use serde_json::Value;

/// The lowercased alphanumeric words of `text`.
pub fn tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// |A ∩ B| / |A ∪ B| of two token sets; 0 when both are empty.
pub fn jaccard(left: &BTreeSet<String>, right: &BTreeSet<String>) -> f64 {
    let union = left.union(right).count();
    if union == 0 {
        return 0.0;
    }
    let shared = left.intersection(right).count();
    shared as f64 / union as f64
}

/// Why a candidate was picked.
#[derive(Debug, Clone, PartialEq)]
pub struct Match {
    /// Index into the candidates.
    pub index: usize,
    /// True when the candidate has the same tenant.
    pub same_tenant: bool,
    /// Token overlap of the prompts.
    pub overlap: f64,
}

/// The candidate most like (`tenant`, `prompt`): the same tenant first, then the highest
/// token overlap; ties go to the earlier candidate. None when there are no candidates.
pub fn most_similar(tenant: &str, prompt: &str, candidates: &[(&str, &str)]) -> Option<Match> {
    let wanted = tokens(prompt);
    let mut best: Option<Match> = None;
    for (index, (candidate_tenant, candidate_prompt)) in candidates.iter().enumerate() {
        let candidate = Match {
            index,
            same_tenant: *candidate_tenant == tenant,
            overlap: jaccard(&wanted, &tokens(candidate_prompt)),
        };
        let better = match &best {
            None => true,
            Some(current) => {
                (candidate.same_tenant, candidate.overlap) > (current.same_tenant, current.overlap)
            }
        };
        if better {
            best = Some(candidate);
        }
    }
    best
}

/// The user-visible prompt of a request input: the `content` of each user message of an
/// OpenAI `messages` array (or `{"messages": [...]}`), joined; the raw text otherwise.
pub fn prompt_text(input: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(input) else {
        return input.to_string();
    };
    let messages = match &value {
        Value::Array(items) => items,
        Value::Object(map) => match map.get("messages") {
            Some(Value::Array(items)) => items,
            _ => return input.to_string(),
        },
        Value::String(text) => return text.clone(),
        _ => return input.to_string(),
    };
    let mut parts = Vec::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        if role != "user" {
            continue;
        }
        if let Some(content) = message.get("content").and_then(Value::as_str) {
            parts.push(content.to_string());
        }
    }
    if parts.is_empty() {
        return input.to_string();
    }
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jaccard_is_one_for_the_same_words_and_zero_for_none_shared() {
        let a = tokens("Where is my refund?");
        assert_eq!(jaccard(&a, &tokens("where IS my refund")), 1.0);
        assert_eq!(jaccard(&a, &tokens("reset password")), 0.0);
        assert_eq!(jaccard(&tokens(""), &tokens("")), 0.0);
    }

    #[test]
    fn the_same_tenant_wins_over_a_closer_prompt() {
        let candidates = [
            ("t2", "where is my refund please"),
            ("t1", "reset my password"),
            ("t1", "refund status"),
        ];
        let picked = most_similar("t1", "where is my refund", &candidates).unwrap();
        assert_eq!(picked.index, 2);
        assert!(picked.same_tenant);
        let other_tenant = most_similar("t9", "where is my refund", &candidates).unwrap();
        assert_eq!(other_tenant.index, 0);
        assert!(other_tenant.overlap > 0.5);
        assert_eq!(most_similar("t1", "x", &[]), None);
    }

    #[test]
    fn prompt_text_reads_user_messages_and_falls_back_to_raw_text() {
        let input = r#"[{"role":"system","content":"be nice"},{"role":"user","content":"hi"}]"#;
        assert_eq!(prompt_text(input), "hi");
        let wrapped =
            r#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]}"#;
        assert_eq!(prompt_text(wrapped), "a\nb");
        assert_eq!(prompt_text("plain text"), "plain text");
    }
}
