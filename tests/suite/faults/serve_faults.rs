//! Faults of the daemon: a failing tick under `serve` is counted as an error and shown in
//! `/metrics` and `/readyz`; two `serve` on one SQLite file do not both lead, and the survivor
//! of a SIGKILL takes over.

use std::net::TcpListener;
use std::time::{Duration, Instant};

use super::rig::{Backend, Reaped, Rig, both};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let response = evalgate::adapters::http_client::builder()
        .build()
        .unwrap()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// The value of an unlabelled (or exactly labelled) sample line in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

fn spawn_serve(rig: &Rig, name: &str, port: u16) -> Reaped {
    rig.spawn(
        name,
        &["serve", "--bind", &format!("127.0.0.1:{port}")],
        &[("EVALGATE_LOG", "info")],
    )
}

async fn wait_for<F: AsyncFnMut() -> bool>(limit: Duration, mut check: F) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

// 1 (daemon half). The due tick at start-up fails: it is an error in `/metrics`, the rollout's
// failed windows show there and in `/readyz`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_tick_under_serve_is_an_error_in_metrics_and_readyz() {
    let rig = Rig::new(Backend::Sqlite, "").await.unwrap();
    rig.synth(None);
    let out = rig.start(&[]);
    assert!(out.status.success(), "{}", both(&out));
    std::fs::remove_file(rig.evals.join("support.yaml")).unwrap();
    let port = free_port();
    let _serve = spawn_serve(&rig, "serve", port);
    let errored = wait_for(Duration::from_secs(30), async || {
        get(port, "/metrics")
            .await
            .and_then(|(_, page)| sample(&page, "evalgate_ticks_total{outcome=\"error\"}"))
            .is_some_and(|errors| errors >= 1.0)
    })
    .await;
    assert!(errored, "serve: {}", rig.stderr_of("serve"));
    let (_, page) = get(port, "/metrics").await.unwrap();
    assert_eq!(
        sample(&page, "evalgate_ticks_total{outcome=\"ok\"}"),
        None,
        "a failed tick is not counted ok: {page}"
    );
    // The gauges are refreshed after the tick.
    let shown = wait_for(Duration::from_secs(10), async || {
        get(port, "/metrics")
            .await
            .and_then(|(_, page)| sample(&page, "evalgate_rollout_failed_windows{rollout=\"r1\"}"))
            .is_some_and(|failed| failed >= 1.0)
    })
    .await;
    assert!(shown, "{}", get(port, "/metrics").await.unwrap().1);
    let (status, body) = get(port, "/readyz").await.unwrap();
    assert_eq!(status, 200, "the process still serves flags: {body}");
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["ticks"], "failing", "{body}");
    assert_eq!(body["failing_rollouts"][0]["rollout_id"], "r1", "{body}");
    let stderr = rig.stderr_of("serve");
    assert!(stderr.contains("will retry"), "{stderr}");
    assert!(!stderr.contains("tick completed"), "{stderr}");
}

// 3 (daemon half). Two `serve` on one SQLite file: one leads, the other refuses to; when the
// leader is SIGKILLed the other takes over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_serve_on_one_sqlite_store_never_both_lead() {
    let rig = Rig::new(Backend::Sqlite, "").await.unwrap();
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = spawn_serve(&rig, "serve-a", port_a);
    let leader_of = async |port: u16| {
        get(port, "/metrics")
            .await
            .and_then(|(_, page)| sample(&page, "evalgate_scheduler_leader"))
    };
    let a_leads = wait_for(Duration::from_secs(20), async || {
        leader_of(port_a).await == Some(1.0)
    })
    .await;
    assert!(a_leads, "serve-a: {}", rig.stderr_of("serve-a"));
    let _b = spawn_serve(&rig, "serve-b", port_b);
    let b_up = wait_for(Duration::from_secs(20), async || {
        leader_of(port_b).await.is_some()
    })
    .await;
    assert!(b_up, "serve-b: {}", rig.stderr_of("serve-b"));
    // Several scheduler passes: b never leads while a lives.
    for _ in 0..6 {
        assert_eq!(
            leader_of(port_b).await,
            Some(0.0),
            "{}",
            rig.stderr_of("serve-b")
        );
        assert_eq!(leader_of(port_a).await, Some(1.0));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    let b_leads = wait_for(Duration::from_secs(25), async || {
        leader_of(port_b).await == Some(1.0)
    })
    .await;
    assert!(b_leads, "serve-b: {}", rig.stderr_of("serve-b"));
}
