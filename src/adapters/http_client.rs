//! The one way evalgate builds an outbound HTTP client (judges, webhooks): reqwest over rustls with
//! the `ring` crypto provider, installed once per process before the first client is built.
//!
//! reqwest's own `rustls` feature brings aws-lc (a large C library built with cmake); `ring` is
//! what sqlx's TLS already uses, so the binary carries one crypto library, not two.

use std::sync::Once;

/// Makes `ring` the process's rustls provider (once; a provider installed earlier stays).
pub fn install_crypto_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means a provider is already the process default, which is all this needs.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A `reqwest` client builder with the crypto provider in place.
pub fn builder() -> reqwest::ClientBuilder {
    install_crypto_provider();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_client_builds_and_ring_is_the_provider() {
        let client = super::builder().build();
        assert!(client.is_ok(), "{client:?}");
        let provider = rustls::crypto::CryptoProvider::get_default().unwrap();
        let ring = rustls::crypto::ring::default_provider();
        assert_eq!(provider.cipher_suites.len(), ring.cipher_suites.len());
    }
}
