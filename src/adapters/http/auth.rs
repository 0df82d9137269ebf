//! The bearer token of the mutating endpoints. The token is read from the environment variable
//! named by `server.admin_token_env` when `serve` starts; it is never logged or echoed.

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
    fn the_token_never_shows_in_debug_output() {
        let token = AdminToken::new("s3cret").unwrap();
        assert!(!format!("{token:?}").contains("s3cret"));
    }
}
