//! Availability of `evalgate serve` under abuse (issue 13): a half-sent request is closed after
//! the header-read timeout, connections past the cap wait instead of exhausting descriptors and
//! `/healthz` still answers once idle ones time out, `/readyz` answers within its short timeout
//! while the store hangs, and an unreachable PostgreSQL fails at once with the real cause, said
//! once and without PostgreSQL's own source line.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use evalgate::adapters::http::{AppState, SchedulerHeartbeat, ServerLimits, router, serve};
use evalgate::adapters::store::Store;
use evalgate::clock::ManualClock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

fn state(store: Store) -> AppState {
    AppState {
        store,
        clock: Arc::new(ManualClock::new(chrono::DateTime::UNIX_EPOCH)),
        heartbeat: SchedulerHeartbeat::default(),
        admin_token: None,
        controls: None,
        ingest: None,
        web: None,
    }
}

async fn sqlite() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = Store::open(&url).await.unwrap();
    (dir, store)
}

/// Starts the server with `limits`; returns its address and the token that stops it.
async fn start(store: Store, limits: ServerLimits) -> (std::net::SocketAddr, CancellationToken) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let cancel = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        router(state(store)),
        limits,
        cancel.clone(),
    ));
    (addr, cancel)
}

/// Sends `GET path` on a new connection and returns the response head, within `limit`.
async fn get(addr: std::net::SocketAddr, path: &str, limit: Duration) -> String {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer).into_owned()
    };
    tokio::time::timeout(limit, exchange)
        .await
        .unwrap_or_else(|_| panic!("GET {path} got no answer within {limit:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_sent_request_is_closed_after_the_header_timeout() {
    let (_dir, store) = sqlite().await;
    let limits = ServerLimits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(1),
    };
    let (addr, cancel) = start(store, limits).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .await
        .unwrap();
    let began = Instant::now();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    assert!(
        read.is_ok(),
        "the half-sent request was still open after 5 s"
    );
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_past_the_cap_do_not_starve_healthz() {
    let (_dir, store) = sqlite().await;
    let limits = ServerLimits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(1),
    };
    let (addr, cancel) = start(store, limits).await;
    let mut idle = Vec::new();
    for _ in 0..8 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    let answer = get(addr, "/healthz", Duration::from_secs(6)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_answers_within_two_seconds_while_the_store_hangs() {
    // A "PostgreSQL" that accepts connections and never answers: every query waits for the
    // pool's acquire timeout (30 s) unless the probe bounds it.
    let blackhole = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = blackhole.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = blackhole.accept().await {
            held.push(stream);
        }
    });
    let options: sqlx::postgres::PgConnectOptions =
        format!("postgres://u@127.0.0.1:{port}/db").parse().unwrap();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(30))
        .connect_lazy_with(options);
    let limits = ServerLimits {
        max_connections: 16,
        header_read_timeout: Duration::from_secs(5),
    };
    let (addr, cancel) = start(Store::Postgres(pool), limits).await;
    let began = Instant::now();
    let answer = get(addr, "/readyz", Duration::from_secs(5)).await;
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains("\"store\":\"unreachable\""), "{answer}");
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_fails_at_once_with_connection_refused() {
    // Bind then drop a listener: nothing listens on that port now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let began = Instant::now();
    let opened = Store::open(&format!("postgres://u@127.0.0.1:{port}/db")).await;
    let err = opened.expect_err("nothing listens there");
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    let text = err.to_string().to_lowercase();
    assert!(text.contains("refused"), "{text}");
    assert!(!text.contains("timed out"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_error_says_its_message_once_without_the_servers_source_line() {
    let Some(server) = common::pg_server_url() else {
        return;
    };
    let (base, _db) = server.rsplit_once('/').unwrap();
    let missing = format!("{base}/evalgate_no_such_database");
    let err = Store::open(&missing).await.expect_err("no such database");
    let text = evalgate::out::error_chain(&anyhow::Error::from(err));
    assert!(text.contains("does not exist"), "{text}");
    assert_eq!(text.matches("does not exist").count(), 1, "{text}");
    assert!(!text.contains(" at line "), "{text}");
}
