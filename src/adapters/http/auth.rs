//! The bearer token of the mutating endpoints (and of the web view when `serve` listens beyond
//! loopback, where a browser may also give it as the HTTP Basic password). The token is read from
//! the environment variable named by `server.admin_token_env` when `serve` starts; it is never
//! logged or echoed.

use std::sync::Arc;

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

use super::ApiError;
use crate::logic::hash::sha256_hex;

/// The admin token (its `Debug` hides it).
#[derive(Clone)]
pub struct AdminToken {
    digest: Arc<str>,
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

impl AdminToken {
    /// A token; `None` for an empty one (an empty token would let anyone in).
    pub fn new(token: &str) -> Option<AdminToken> {
        let trimmed = token.trim();
        if trimmed.is_empty() {
            return None;
        }
        Some(AdminToken {
            digest: sha256_hex(trimmed.as_bytes(), 64).into(),
        })
    }

    /// True when `presented` is the token. Compares digests in constant time so the answer's
    /// timing does not leak the token.
    pub fn matches(&self, presented: &str) -> bool {
        let candidate = sha256_hex(presented.as_bytes(), 64);
        let expected = self.digest.as_bytes();
        let given = candidate.as_bytes();
        if expected.len() != given.len() {
            return false;
        }
        expected
            .iter()
            .zip(given)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

/// Checks the `Authorization: Bearer …` header against the configured token.
pub fn authorize(token_opt: Option<&AdminToken>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(token) = token_opt else {
        return Err(ApiError::Disabled);
    };
    let presented = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(value) if token.matches(value) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Like [`authorize`], for pages a browser opens: the token may also come as the password of
/// HTTP Basic (`Authorization: Basic base64(user:token)`, any user name), which browsers ask for.
pub fn authorize_browser(
    token_opt: Option<&AdminToken>,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    let Some(token) = token_opt else {
        return Err(ApiError::Disabled);
    };
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Basic "));
    let Some(encoded) = basic else {
        return authorize(token_opt, headers);
    };
    match basic_password(encoded) {
        Some(password) if token.matches(password.trim()) => Ok(()),
        _ => Err(ApiError::Unauthorized),
    }
}

/// The password of a Basic credential (`base64(user:password)`).
fn basic_password(encoded: &str) -> Option<String> {
    let text = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_string())
}

/// Standard base64 (RFC 4648 §4), padding optional; None on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for byte in text.trim_end_matches('=').bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        buffer = (buffer << 6) | u32::from(value);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(u8::try_from(buffer >> bits).ok()?);
            buffer &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(AUTHORIZATION, value.parse().unwrap());
        map
    }

    #[test]
    fn only_the_exact_bearer_token_is_accepted() {
        let token = AdminToken::new("s3cret").unwrap();
        assert!(authorize(Some(&token), &headers("Bearer s3cret")).is_ok());
        assert!(matches!(
            authorize(Some(&token), &headers("Bearer s3cre")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            authorize(Some(&token), &headers("Basic s3cret")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            authorize(Some(&token), &HeaderMap::new()),
            Err(ApiError::Unauthorized)
        ));
    }

    #[test]
    fn without_a_configured_token_mutations_are_disabled() {
        assert!(matches!(
            authorize(None, &headers("Bearer anything")),
            Err(ApiError::Disabled)
        ));
        assert!(AdminToken::new("  ").is_none());
    }

    #[test]
    fn a_browser_may_give_the_token_as_the_basic_password() {
        let token = AdminToken::new("s3cret").unwrap();
        // base64("alice:s3cret") and base64("x:wrong")
        assert!(authorize_browser(Some(&token), &headers("Basic YWxpY2U6czNjcmV0")).is_ok());
        assert!(authorize_browser(Some(&token), &headers("Bearer s3cret")).is_ok());
        assert!(matches!(
            authorize_browser(Some(&token), &headers("Basic eDp3cm9uZw==")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            authorize_browser(Some(&token), &headers("Basic !!!")),
            Err(ApiError::Unauthorized)
        ));
        assert!(matches!(
            authorize_browser(None, &headers("Basic YWxpY2U6czNjcmV0")),
            Err(ApiError::Disabled)
        ));
        assert_eq!(base64_decode("aGk=").unwrap(), b"hi");
        assert_eq!(base64_decode("aGVsbG8/").unwrap(), b"hello?");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let token = AdminToken::new("s3cret").unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
