//! End to end: the real `evalgate serve` binary on a loopback port over a temp SQLite store
//! seeded with a rollout and a pass-rate window; `promtool check metrics` accepts its `/metrics`;
//! a real Prometheus scrapes it every second and its query API returns the pass ratio; every
//! query of the Prometheus-only Grafana dashboard (panels, variables, annotations) runs on that
//! Prometheus, and its Wilson band brackets the pass ratio; SIGTERM stops `serve` cleanly. Skipped when `prometheus` is not installed, unless
//! EVALGATE_REQUIRE_PROMETHEUS=1 (CI), which makes that a failure.

use std::io::Write as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evalgate::adapters::store::Store;
use evalgate::clock::{Clock, SystemClock};
use evalgate::logic::schedule::Schedule;

/// Kills the child on drop so a failing test leaves nothing running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn prometheus_available() -> bool {
    let found = Command::new("prometheus").arg("--version").output().is_ok()
        && Command::new("promtool").arg("--version").output().is_ok();
    if !found && std::env::var("EVALGATE_REQUIRE_PROMETHEUS").as_deref() == Ok("1") {
        panic!("EVALGATE_REQUIRE_PROMETHEUS=1 but prometheus/promtool are not installed");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<(u16, String)> {
    let client = evalgate::adapters::http_client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .ok()?;
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.ok()?))
}

/// Polls `check` every 250 ms until it returns Some or `limit` passes.
async fn poll<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    while started.elapsed() < limit {
        if let Some(value) = check().await {
            return Some(value);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

async fn seed(dir: &Path, tick_cron: &str) -> String {
    let url = format!("sqlite://{}", dir.join("e2e.db").display());
    let store = Store::open(&url).await.unwrap();
    let Store::Sqlite(pool) = &store else {
        unreachable!()
    };
    // The tick schedule must not fire during the test: mark its latest fire time as done.
    let now = SystemClock.now();
    let latest = Schedule::parse(tick_cron)
        .unwrap()
        .latest_at_or_before(now)
        .unwrap();
    store
        .scheduler_set_last_run("ticks", latest, now)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO rollouts (id, flag_key, baseline_target, canary_target, salt, always_tenants, never_tenants, last_evidence, plan, state, phase, created_at, updated_at) \
         VALUES ('r1', 'checkout', 'bot@v1', 'bot@v2', 'checkout', '[]', '[]', '{}', '{}', '{\"split_bp\": 100}', 'running', $1, $1)",
    )
    .bind(now)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO pass_rate_series (rollout_id, arm, evaluator, evaluator_version, window_start, window_end, n, passes, fails, unscorable, rate, wilson_low, wilson_high) \
         VALUES ('r1', 'canary', 'judge_helpful', 'v1', $1, $2, 200, 170, 30, 0, 0.85, 0.79, 0.89), \
                ('r1', 'baseline', 'judge_helpful', 'v1', $1, $2, 200, 180, 20, 0, 0.9, 0.85, 0.93)",
    )
    .bind(now - chrono::Duration::minutes(20))
    .bind(now - chrono::Duration::minutes(5))
    .execute(pool)
    .await
    .unwrap();
    store.close().await;
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_scrapes_serve_and_returns_the_pass_ratio() {
    if !prometheus_available() {
        eprintln!("skipping: prometheus is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tick_cron = "0 0 1 1 *";
    let store_url = seed(dir.path(), tick_cron).await;
    let serve_port = free_port();
    let config_path = dir.path().join("evalgate.toml");
    std::fs::write(
        &config_path,
        format!("[schedule]\nticks = \"{tick_cron}\"\nshutdown_deadline = \"10s\"\n\n[server]\nbind = \"127.0.0.1:{serve_port}\"\n"),
    )
    .unwrap();
    let serve_log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut serve = Reaped(
        crate::common::evalgate()
            .arg("--store")
            .arg(&store_url)
            .arg("--config")
            .arg(&config_path)
            .arg("serve")
            .env_remove("EVALGATE_ADMIN_TOKEN")
            .stdout(Stdio::null())
            .stderr(serve_log)
            .spawn()
            .expect("spawn evalgate serve"),
    );
    let base = format!("http://127.0.0.1:{serve_port}");
    let ready = poll(Duration::from_secs(60), || async {
        get(&format!("{base}/readyz"))
            .await
            .filter(|(status, _)| *status == 200)
    })
    .await;
    let log = || std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    assert!(ready.is_some(), "serve never became ready:\n{}", log());

    let (_, metrics) = get(&format!("{base}/metrics")).await.unwrap();
    assert!(
        metrics.contains(
            "evalgate_pass_ratio{rollout=\"r1\",arm=\"canary\",evaluator=\"judge_helpful\"} 0.85"
        ),
        "{metrics}"
    );
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(metrics.as_bytes())
        .unwrap();
    let checked = promtool.wait_with_output().unwrap();
    assert!(
        checked.status.success(),
        "promtool check metrics failed: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let prom_port = free_port();
    let prom_config = dir.path().join("prometheus.yml");
    std::fs::write(
        &prom_config,
        format!("global: {{scrape_interval: 1s, evaluation_interval: 1s}}\nscrape_configs:\n  - job_name: evalgate\n    static_configs: [{{targets: [\"127.0.0.1:{serve_port}\"]}}]\n"),
    )
    .unwrap();
    let _prometheus = Reaped(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn prometheus"),
    );
    let query = format!(
        "http://127.0.0.1:{prom_port}/api/v1/query?query=evalgate_pass_ratio%7Brollout%3D%22r1%22%2Carm%3D%22canary%22%7D"
    );
    let value = poll(Duration::from_secs(90), || async {
        let (status, body) = get(&query).await?;
        if status != 200 {
            return None;
        }
        let json: serde_json::Value = serde_json::from_str(&body).ok()?;
        json["data"]["result"][0]["value"][1]
            .as_str()
            .map(str::to_string)
    })
    .await;
    assert_eq!(
        value.as_deref(),
        Some("0.85"),
        "prometheus never returned the pass ratio\n{}",
        log()
    );

    dashboard_queries_run_on_prometheus(prom_port).await;

    // SIGTERM stops serve cleanly (exit status 0) within its shutdown deadline.
    let pid = serve.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(signalled.success());
    let started = Instant::now();
    let mut exited = None;
    while exited.is_none() && started.elapsed() < Duration::from_secs(30) {
        exited = serve.0.try_wait().unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let status = exited.expect("serve did not stop after SIGTERM");
    assert!(status.success(), "serve exited with {status}\n{}", log());
}

/// Percent-encodes a query parameter value.
fn encode(text: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One instant query on the Prometheus at `port`: its `data` (a panic when the query fails).
async fn instant(port: u16, expr: &str) -> serde_json::Value {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let body: serde_json::Value = client
        .get(format!(
            "http://127.0.0.1:{port}/api/v1/query?query={}",
            encode(expr)
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["status"], "success", "{expr}: {body}");
    body["data"].clone()
}

/// The dashboard's variables as a Grafana user with rollout r1 and every evaluator and metric
/// selected would have them.
fn with_variables(expr: &str) -> String {
    expr.replace("$rollout", "r1")
        .replace("$evaluator", ".*")
        .replace("$metric", ".*")
        .replace("$__rate_interval", "1m")
}

/// Every PromQL query of `grafana/dashboards/evalgate-prometheus.json` runs on a Prometheus that
/// scraped `serve`; the variables list the seeded rollout and evaluator; the pass-rate panel's
/// Wilson band (computed in PromQL from the ratio and the window's samples) brackets the canary's
/// 0.85 at n = 200 where the formula puts it.
async fn dashboard_queries_run_on_prometheus(port: u16) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dashboards/evalgate-prometheus.json");
    let dash: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut ran = 0;
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            instant(port, &with_variables(target["expr"].as_str().unwrap())).await;
            ran += 1;
        }
    }
    for anno in dash["annotations"]["list"].as_array().unwrap() {
        instant(
            port,
            &with_variables(anno["target"]["expr"].as_str().unwrap()),
        )
        .await;
        ran += 1;
    }
    assert!(ran >= 15, "{ran} queries");

    // Variables: `label_values(SELECTOR, LABEL)` is Grafana's call of the label values API.
    let client = reqwest::Client::new();
    for (var, wanted) in [
        ("rollout", "r1"),
        ("evaluator", "judge_helpful"),
        ("metric", ""),
    ] {
        let query = dash["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == var)
            .unwrap()["query"]
            .as_str()
            .unwrap()
            .to_string();
        let inner = with_variables(&query);
        let inner = inner
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap();
        let (selector, label) = inner.rsplit_once(',').unwrap();
        let body: serde_json::Value = client
            .get(format!(
                "http://127.0.0.1:{port}/api/v1/label/{}/values?match%5B%5D={}",
                label.trim(),
                encode(selector.trim())
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(body["status"], "success", "variable {var}: {body}");
        if !wanted.is_empty() {
            assert!(
                body["data"].as_array().unwrap().iter().any(|v| v == wanted),
                "variable {var} does not list {wanted}: {body}"
            );
        }
    }

    let band = dash["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["repeat"] == "evaluator")
        .unwrap();
    let canary = |data: serde_json::Value| -> f64 {
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["metric"]["arm"] == "canary")
            .and_then(|r| r["value"][1].as_str())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no canary series: {data}"))
    };
    let bound = |ref_id: &str| {
        let expr = band["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["refId"] == ref_id)
            .unwrap()["expr"]
            .as_str()
            .unwrap()
            .to_string();
        with_variables(&expr)
    };
    let low = canary(instant(port, &bound("B")).await);
    let high = canary(instant(port, &bound("C")).await);
    // Wilson at p = 0.85, n = 200, z = 1.96: [0.7948, 0.8932].
    assert!((low - 0.7948).abs() < 0.001, "low {low}");
    assert!((high - 0.8932).abs() < 0.001, "high {high}");
}
