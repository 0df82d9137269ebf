//! The composition root: what a process builds once and hands to the engine. [`Context`] is the
//! validated config and the clock (every command has it); [`Services`] adds the store, the flag
//! sinks and the notifier with its HTTP client, built once per process by [`Context::services`]
//! and shared by the scheduler, the controller, the web view and the CLI commands. Nothing below
//! `commands` builds these again per call.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::adapters::flags::FlagSinks;
use crate::adapters::notify::Notifier;
use crate::adapters::store::Store;
use crate::clock::{Clock, SystemClock};
use crate::config::{self, Config};

/// What every command gets: the validated config and the clock.
#[derive(Clone)]
pub struct Context {
    /// The validated configuration (flags already applied).
    pub config: Config,
    /// The config file it came from, if any.
    pub config_path: Option<PathBuf>,
    /// The clock: the system clock, or a manual one in the demo and tests.
    pub clock: Arc<dyn Clock>,
}

impl Context {
    /// Builds the context from the config file, `EVALGATE_*` variables and `--store`.
    pub fn load(
        config_file: Option<PathBuf>,
        store_url: Option<&str>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Context> {
        let config_path = config::resolve_path(config_file);
        let mut config = Config::load(config_path.as_deref(), vars)?;
        if let Some(url) = store_url {
            config.store.url = url.to_string();
            config = config.validated("--store")?;
        }
        Ok(Context {
            config,
            config_path,
            clock: Arc::new(SystemClock),
        })
    }

    /// A context over an explicit config (tests, the demo).
    pub fn with_config(config: Config, clock: Arc<dyn Clock>) -> Context {
        Context {
            config,
            config_path: None,
            clock,
        }
    }

    /// Opens the configured store and applies pending migrations.
    pub async fn store(&self) -> anyhow::Result<Store> {
        Store::open(&self.config.store.url)
            .await
            .with_context(|| format!("cannot open store {}", redact_url(&self.config.store.url)))
    }

    /// Opens the store and builds the services over it.
    pub async fn services(&self) -> anyhow::Result<Services> {
        let store = self.store().await?;
        Services::new(self.clone(), store)
    }
}

/// The services of a process that works on a store: built once, cloned cheaply.
#[derive(Clone)]
pub struct Services {
    /// Config and clock.
    pub ctx: Context,
    /// The store.
    pub store: Store,
    /// The flag sinks `[flags]` configures, over this store.
    pub sinks: FlagSinks,
    /// The notifier `[notify]` configures, with the process's one HTTP client for webhooks.
    pub notifier: Notifier,
}

impl Services {
    /// The services `ctx`'s config declares, over `store`.
    pub fn new(ctx: Context, store: Store) -> anyhow::Result<Services> {
        let sinks = FlagSinks::from_config(&ctx.config.flags, &store);
        let notifier = Notifier::from_config(&ctx.config.notify)
            .context("cannot build the webhook notifier")?;
        Ok(Services::with_effects(ctx, store, sinks, notifier))
    }

    /// Services with explicit flag sinks and notifier (the demo, tests).
    pub fn with_effects(
        ctx: Context,
        store: Store,
        sinks: FlagSinks,
        notifier: Notifier,
    ) -> Services {
        Services {
            ctx,
            store,
            sinks,
            notifier,
        }
    }
}

/// Hides a password in a database URL before it reaches a log or an error.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_the_password_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://evalgate.db"), "sqlite://evalgate.db");
    }
}
