//! Store benchmark (`cargo bench --bench store`): ingest throughput and sampling latency on
//! SQLite and PostgreSQL, with synthetic traffic from `sim::synth`. See BENCHMARKS.md.
//!
//! Sizes come from the environment so a quick run is possible:
//! - `EVALGATE_BENCH_BACKENDS`   `sqlite,postgres` (default both)
//! - `EVALGATE_BENCH_PG_URL`     server to create the bench databases on
//!   (default `postgres://postgres@127.0.0.1:55432/postgres`)
//! - `EVALGATE_BENCH_INGEST_ROWS` requests in the ingest file (default 200000; 0 skips ingest)
//! - `EVALGATE_BENCH_SIZES`      stored requests at which sampling is timed
//!   (default `100000,1000000`; the full run adds 10000000; empty skips sampling)
//! - `EVALGATE_BENCH_TICKS`      ticks timed per size and window kind (default 25)
//! - `EVALGATE_BENCH_RPM`        traffic density of the stored history (default 200 rpm)
//! - `EVALGATE_BENCH_DIR`        where the SQLite files go (default: the system temp dir)
//! - `EVALGATE_BENCH_EXPLAIN=1`  also print the query plan at each size
#![allow(clippy::unwrap_used)]

mod ingest;
mod load;
mod sampling;

use std::path::PathBuf;

use anyhow::Context as _;
use evalgate::adapters::store::Store;

/// Which store a bench runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A database on the PostgreSQL server.
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// The bench settings, from the environment.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    backends: Vec<Backend>,
    pg_server_url: String,
    ingest_rows: u64,
    sizes: Vec<u64>,
    ticks: usize,
    rpm: f64,
    dir: Option<PathBuf>,
    explain: bool,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

impl BenchConfig {
    fn from_env() -> anyhow::Result<BenchConfig> {
        let mut backends = Vec::new();
        for name in env_or("EVALGATE_BENCH_BACKENDS", "sqlite,postgres").split(',') {
            match name.trim() {
                "sqlite" => backends.push(Backend::Sqlite),
                "postgres" => backends.push(Backend::Postgres),
                "" => {}
                other => anyhow::bail!("EVALGATE_BENCH_BACKENDS: unknown backend `{other}`"),
            }
        }
        let mut sizes = Vec::new();
        for size in env_or("EVALGATE_BENCH_SIZES", "100000,1000000").split(',') {
            if size.trim().is_empty() {
                continue;
            }
            sizes.push(size.trim().parse().context("EVALGATE_BENCH_SIZES")?);
        }
        sizes.sort_unstable();
        Ok(BenchConfig {
            backends,
            pg_server_url: env_or(
                "EVALGATE_BENCH_PG_URL",
                "postgres://postgres@127.0.0.1:55432/postgres",
            ),
            ingest_rows: env_or("EVALGATE_BENCH_INGEST_ROWS", "200000")
                .parse()
                .context("EVALGATE_BENCH_INGEST_ROWS")?,
            sizes,
            ticks: env_or("EVALGATE_BENCH_TICKS", "25")
                .parse()
                .context("EVALGATE_BENCH_TICKS")?,
            rpm: env_or("EVALGATE_BENCH_RPM", "200")
                .parse()
                .context("EVALGATE_BENCH_RPM")?,
            dir: std::env::var_os("EVALGATE_BENCH_DIR").map(PathBuf::from),
            explain: std::env::var("EVALGATE_BENCH_EXPLAIN").as_deref() == Ok("1"),
        })
    }
}

/// A fresh, migrated store; dropping the guard removes it (the SQLite file or the database).
pub struct BenchStore {
    /// The store.
    pub store: Store,
    backend: Backend,
    _dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

impl BenchStore {
    /// Creates an empty store named `name` on `backend`.
    pub async fn create(
        config: &BenchConfig,
        backend: Backend,
        name: &str,
    ) -> anyhow::Result<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = match &config.dir {
                    Some(parent) => tempfile::tempdir_in(parent)?,
                    None => tempfile::tempdir()?,
                };
                let url = format!(
                    "sqlite://{}",
                    dir.path().join(format!("{name}.db")).display()
                );
                let store = Store::open(&url).await?;
                Ok(BenchStore {
                    store,
                    backend,
                    _dir: Some(dir),
                    pg: None,
                })
            }
            Backend::Postgres => {
                let database = format!("evalgate_bench_{name}");
                recreate_database(&config.pg_server_url, &database, true).await?;
                let (base, _) = config
                    .pg_server_url
                    .rsplit_once('/')
                    .context("EVALGATE_BENCH_PG_URL has no /database part")?;
                let url = format!("{base}/{database}");
                let store = Store::open(&url).await?;
                Ok(BenchStore {
                    store,
                    backend,
                    _dir: None,
                    pg: Some((config.pg_server_url.clone(), database)),
                })
            }
        }
    }

    /// Closes the store and drops its database.
    pub async fn remove(self) -> anyhow::Result<()> {
        match &self.store {
            Store::Sqlite(pool) => pool.close().await,
            Store::Postgres(pool) => pool.close().await,
        }
        if let Some((server, database)) = &self.pg {
            recreate_database(server, database, false).await?;
        }
        Ok(())
    }

    /// Brings planner statistics up to date, as autovacuum would on a table in steady state.
    pub async fn analyze(&self) -> anyhow::Result<()> {
        match &self.store {
            Store::Sqlite(pool) => {
                sqlx::query("ANALYZE").execute(pool).await?;
            }
            Store::Postgres(pool) => {
                sqlx::query("VACUUM ANALYZE requests").execute(pool).await?;
            }
        }
        Ok(())
    }

    /// `sqlite` or `postgres`.
    pub fn backend(&self) -> Backend {
        self.backend
    }
}

/// Drops `database` on the server and, when `create`, creates it again empty.
async fn recreate_database(server_url: &str, database: &str, create: bool) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(server_url)
        .await
        .with_context(|| format!("cannot connect to {server_url}"))?;
    let drop = format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)");
    sqlx::query(sqlx::AssertSqlSafe(drop))
        .execute(&mut conn)
        .await?;
    if create {
        let sql = format!("CREATE DATABASE {database}");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await?;
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run())
}

async fn run() -> anyhow::Result<()> {
    let config = BenchConfig::from_env()?;
    println!("store bench: {config:?}");
    let mut ingest_rows = Vec::new();
    if config.ingest_rows > 0 {
        for &backend in &config.backends {
            ingest_rows.push(ingest::bench(&config, backend).await?);
        }
    }
    let mut sampling_rows = Vec::new();
    if !config.sizes.is_empty() {
        for &backend in &config.backends {
            sampling_rows.extend(sampling::bench(&config, backend).await?);
        }
    }
    if !ingest_rows.is_empty() {
        println!();
        ingest::print_table(&ingest_rows);
    }
    if !sampling_rows.is_empty() {
        println!();
        sampling::print_table(&sampling_rows);
    }
    Ok(())
}
