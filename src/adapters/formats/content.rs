//! What is inside a request or response body, whatever the source: JSON held as text
//! (ClickHouse `String` columns, OTLP string attributes) decoded in place, request messages
//! normalised to OpenAI's `{"role", "content"}` shape where that loses nothing, and the response
//! text found in the shapes gateways log (chat completions, messages, content parts, message
//! lists).

use serde_json::Value;

/// Replaces text that holds a JSON object or array (or a JSON string) by its value, `depth`
/// levels into objects.
pub fn decode_embedded(value: &mut Value, depth: usize) {
    match value {
        Value::String(text) => {
            let trimmed = text.trim_start();
            let looks_like_json =
                trimmed.starts_with('{') || trimmed.starts_with('[') || trimmed.starts_with('"');
            if looks_like_json && let Ok(decoded) = serde_json::from_str::<Value>(text) {
                *value = decoded;
            }
        }
        Value::Object(inner) if depth > 0 => {
            for child in inner.values_mut() {
                decode_embedded(child, depth - 1);
            }
        }
        _ => {}
    }
}

/// `{"messages": […]}` → the list; OpenTelemetry `{"role", "parts": [{"type": "text",
/// "content"}]}` messages → `{"role", "content"}` when every part is text.
pub fn chat_messages(value: &Value) -> Value {
    let list = match value {
        Value::Object(inner) => match inner.get("messages") {
            Some(messages @ Value::Array(_)) => messages,
            _ => return value.clone(),
        },
        other => other,
    };
    let Value::Array(items) = list else {
        return list.clone();
    };
    Value::Array(items.iter().map(openai_message).collect())
}

fn openai_message(message: &Value) -> Value {
    let (Some(role), Some(Value::Array(parts))) = (message.get("role"), message.get("parts"))
    else {
        return message.clone();
    };
    let mut texts = Vec::with_capacity(parts.len());
    for part in parts {
        let is_text = part.get("type").and_then(Value::as_str) == Some("text");
        match (is_text, part.get("content").and_then(Value::as_str)) {
            (true, Some(text)) => texts.push(text),
            _ => return message.clone(),
        }
    }
    serde_json::json!({"role": role, "content": texts.join("")})
}

/// The response text inside `value`: a string; a chat completion (`choices[0].message.content`,
/// `choices[0].text`); a message (`content` as text or parts); an Anthropic-style `content`
/// list; OpenTelemetry `parts`; or a list of messages (the last assistant one, else the first).
pub fn text_of(value: &Value) -> Option<String> {
    text_at_depth(value, 4)
}

fn text_at_depth(value: &Value, depth: usize) -> Option<String> {
    if depth == 0 {
        return None;
    }
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Object(inner) => {
            if let Some(choice) = inner.get("choices").and_then(|choices| choices.get(0)) {
                let text_opt = choice.get("message").or_else(|| choice.get("text"));
                return text_opt.and_then(|inner| text_at_depth(inner, depth - 1));
            }
            for key in ["content", "parts", "text", "output", "completion"] {
                if let Some(inner_value) = inner.get(key) {
                    return text_at_depth(inner_value, depth - 1);
                }
            }
            None
        }
        Value::Array(items) => {
            let is_messages = items.iter().any(|item| item.get("role").is_some());
            if is_messages {
                let assistant = items
                    .iter()
                    .rev()
                    .find(|item| item.get("role").and_then(Value::as_str) == Some("assistant"));
                return text_at_depth(assistant.or_else(|| items.first())?, depth - 1);
            }
            let mut texts = Vec::new();
            for part in items {
                let text_opt = match part {
                    Value::String(text) => Some(text.as_str()),
                    _ => part
                        .get("text")
                        .or_else(|| part.get("content"))
                        .and_then(Value::as_str),
                };
                if let Some(text) = text_opt {
                    texts.push(text);
                }
            }
            (!texts.is_empty()).then(|| texts.join(""))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn text_is_found_in_every_response_shape() {
        let cases = [
            (json!("plain"), "plain"),
            (
                json!({"choices": [{"message": {"content": "chat"}}]}),
                "chat",
            ),
            (json!({"choices": [{"text": "legacy"}]}), "legacy"),
            (json!({"role": "assistant", "content": "msg"}), "msg"),
            (
                json!({"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}),
                "ab",
            ),
            (
                json!([{"role": "assistant", "parts": [{"type": "text", "content": "otel"}]}]),
                "otel",
            ),
            (
                json!([{"role": "user", "content": "q"}, {"role": "assistant", "content": "ans"}]),
                "ans",
            ),
        ];
        for (value, expected) in cases {
            assert_eq!(text_of(&value).as_deref(), Some(expected), "{value}");
        }
        assert_eq!(text_of(&json!({"usage": 1})), None);
    }

    #[test]
    fn otel_parts_messages_become_openai_messages() {
        let input = json!([{"role": "user", "parts": [{"type": "text", "content": "hi"}]},
                           {"role": "user", "parts": [{"type": "blob", "content": "x"}]}]);
        assert_eq!(
            chat_messages(&input),
            json!([{"role": "user", "content": "hi"},
                   {"role": "user", "parts": [{"type": "blob", "content": "x"}]}])
        );
        assert_eq!(
            chat_messages(&json!({"messages": [{"role": "user", "content": "q"}]})),
            json!([{"role": "user", "content": "q"}])
        );
    }
}
