//! The read-only web view. Through `router(state)` with `oneshot`: who may see it (open on
//! loopback, the admin token as bearer or Basic password beyond it, disabled without a token),
//! its headers (HTML, a CSP that allows no script), 404s, and user data coming out escaped.
//!
//! In a real browser: the demo fills a SQLite store and serves it (`evalgate demo --serve`, which
//! prints the web view's URL), headless Chromium loads every page, and the test checks the
//! rendered DOM (series, Wilson bands, the 1/α line, every transition of the audit trail, halt
//! signals, flag sinks, the review packet), that the browser logged no console message, and that
//! `/metrics` passes promtool with the rolled-back rollout's final status. Skipped when
//! `chromium` is not installed, unless EVALGATE_REQUIRE_CHROMIUM=1 (CI), which makes that a
//! failure. With EVALGATE_SCREENSHOT_DIR set, the page screenshots are written there
//! (docs/screenshots/ holds the README's).

use crate::common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeZone;
use evalgate::adapters::http::{
    AdminToken, AppState, SchedulerHeartbeat, WebAccess, WebView, router,
};
use evalgate::adapters::store::{NewRollout, Store};
use evalgate::clock::ManualClock;
use evalgate::commands::web::WebSource;
use evalgate::config::Config;
use evalgate::context::{Context, Services};
use evalgate::domain::plan::Plan;
use evalgate::domain::rollout::{Command as RolloutCommand, Input, RolloutState};
use evalgate::domain::{Evidence, MetricVerdict, Role, Timestamp, Verdict};
use evalgate::worker::controller::control_once;
use serde_json::Value;
use tower::ServiceExt as _;

const SCRIPT: &str = "<script>alert('halt')</script>";

fn now() -> Timestamp {
    chrono::Utc
        .with_ymd_and_hms(2026, 11, 26, 12, 0, 0)
        .unwrap()
}

fn context() -> Context {
    Context::with_config(Config::default(), Arc::new(ManualClock::new(now())))
}

fn services(store: &Store) -> Services {
    Services::new(context(), store.clone()).expect("services")
}

/// A started rollout whose owner and halt reason carry markup.
async fn seed(store: &Store) {
    let plan = Plan::seed_default();
    let state = RolloutState::new("web-1", "web-flag", "<b>team</b>", now());
    store
        .create_rollout(&NewRollout {
            id: "web-1".into(),
            flag_key: "web-flag".into(),
            owner: Some("<b>team</b>".into()),
            webhook: None,
            suite: Some("support".into()),
            baseline_target: "bot@v41".into(),
            canary_target: "bot@v42".into(),
            salt: "web-flag".into(),
            always_tenants: Vec::new(),
            never_tenants: Vec::new(),
            plan: serde_json::to_value(&plan).unwrap(),
            state: serde_json::to_value(&state).unwrap(),
            phase: state.phase.kind(),
            created_at: now(),
        })
        .await
        .unwrap();
    let start = Input::commands(vec![RolloutCommand::Start {
        actor: "alice".into(),
    }]);
    control_once(&services(store), "web-1", start, now())
        .await
        .unwrap();
    let halt = MetricVerdict {
        metric: "pass_rate".into(),
        promotion_authority: true,
        verdict: Verdict::Halt {
            role: Role::Freeze,
            reason: SCRIPT.into(),
        },
        evidence: Evidence::default(),
    };
    store
        .record_halt_signals("web-1", 0, now(), now(), &[halt])
        .await
        .unwrap();
}

fn state(store: &Store, access: WebAccess, token: Option<&str>) -> AppState {
    AppState {
        store: store.clone(),
        clock: Arc::new(ManualClock::new(now())),
        heartbeat: SchedulerHeartbeat::default(),
        admin_token: token.and_then(AdminToken::new),
        controls: None,
        ingest: None,
        web: Some(WebView {
            pages: Arc::new(WebSource::new(services(store))),
            access,
        }),
    }
}

async fn get(
    state: &AppState,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, Vec<(String, String)>, String) {
    let mut request = Request::get(uri);
    if let Some(auth) = auth {
        request = request.header("authorization", auth);
    }
    let response = router(state.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, headers, String::from_utf8(bytes.to_vec()).unwrap())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test]
async fn on_loopback_the_pages_are_open_html_without_script_and_escaped() {
    let (_dir, store) = common::sqlite_store().await;
    seed(&store).await;
    let state = state(&store, WebAccess::Open, None);

    let (status, headers, body) = get(&state, "/", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        header(&headers, "content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = header(&headers, "content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script-src"),
        "{csp}"
    );
    assert!(body.contains("data-rollout=\"web-1\""), "{body}");
    assert!(body.contains("&lt;b&gt;team&lt;/b&gt;") && !body.contains("<b>team"));
    assert!(body.contains("<meta http-equiv=\"refresh\" content=\"15\">"));

    let (status, _, body) = get(&state, "/rollouts/web-1", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("&lt;script&gt;alert(&#39;halt&#39;)&lt;/script&gt;"),
        "the halt reason is shown, escaped: {body}"
    );
    assert!(!body.contains("<script"), "no script element: {body}");
    assert!(
        body.contains("class=\"transition\""),
        "the start is a transition"
    );
    assert!(body.contains("class=\"sink\""));

    let (status, _, body) = get(&state, "/rollouts/web-1/review", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Failed canary responses (0)"), "{body}");

    for missing in ["/rollouts/nope", "/rollouts/nope/review"] {
        let (status, _, _) = get(&state, missing, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
}

#[tokio::test]
async fn beyond_loopback_the_view_needs_the_admin_token() {
    let (_dir, store) = common::sqlite_store().await;
    seed(&store).await;
    let guarded = state(&store, WebAccess::AdminToken, Some("s3cret"));

    let (status, headers, _) = get(&guarded, "/", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        header(&headers, "www-authenticate")
            .unwrap()
            .starts_with("Basic "),
        "a browser is asked for the token"
    );
    let (status, _, _) = get(&guarded, "/rollouts/web-1", Some("Bearer wrong")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // base64("ops:s3cret")
    let (status, _, _) = get(&guarded, "/rollouts/web-1", Some("Basic b3BzOnMzY3JldA==")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = get(&guarded, "/", Some("Bearer s3cret")).await;
    assert_eq!(status, StatusCode::OK);

    let no_token = state(&store, WebAccess::AdminToken, None);
    let (status, _, body) = get(&no_token, "/", Some("Bearer s3cret")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let mut without_view = state(&store, WebAccess::Open, None);
    without_view.web = None;
    let (status, _, _) = get(&without_view, "/", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

// ---- the real browser ------------------------------------------------------------------------

/// Kills the child on drop so a failing test leaves nothing running.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromium() -> Option<&'static str> {
    let found = ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if found.is_none() && std::env::var("EVALGATE_REQUIRE_CHROMIUM").as_deref() == Ok("1") {
        panic!("EVALGATE_REQUIRE_CHROMIUM=1 but chromium is not installed");
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

/// Runs chromium headless on `url` with a fresh profile; returns (stdout, stderr), written to
/// files (a DOM larger than a pipe's buffer would block it). Killed after 90 s.
fn browse(browser: &str, profile: &Path, url: &str, mode: &str, height: u32) -> (String, String) {
    let out_path = profile.with_extension("out");
    let err_path = profile.with_extension("err");
    let mut child = Reaped(
        Command::new(browser)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size=1280,{height}"))
            .arg(mode)
            .arg(url)
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .expect("spawn chromium"),
    );
    let started = Instant::now();
    while child.0.try_wait().unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "chromium hung on {url}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        std::fs::read_to_string(&out_path).unwrap(),
        std::fs::read_to_string(&err_path).unwrap(),
    )
}

/// Loads `path` in the browser: its DOM, after checking the console stayed silent (the view
/// runs no script, so any console line is an error: a blocked resource, a CSP violation) and
/// taking a screenshot.
fn load(browser: &str, dir: &Path, base: &str, path: &str, shot: &str, height: u32) -> String {
    let url = format!("{base}{path}");
    let profile = dir.join(format!("profile-{shot}"));
    let (dom, log) = browse(browser, &profile, &url, "--dump-dom", height);
    let console: Vec<&str> = log
        .lines()
        .filter(|line| line.contains(":CONSOLE") || line.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "{url}: console messages:\n{}",
        console.join("\n")
    );
    assert!(dom.contains("</html>"), "{url}: no DOM:\n{dom}\n{log}");
    let png = match std::env::var("EVALGATE_SCREENSHOT_DIR") {
        Ok(out) if !out.is_empty() => PathBuf::from(out).join(format!("{shot}.png")),
        _ => dir.join(format!("{shot}.png")),
    };
    browse(
        browser,
        &profile,
        &url,
        &format!("--screenshot={}", png.display()),
        height,
    );
    let bytes = std::fs::read(&png).expect("screenshot written");
    assert!(bytes.starts_with(b"\x89PNG"), "{url}: not a PNG screenshot");
    dom
}

/// GET over HTTP/1.0 (no chunked body), retried for up to 30 s while the server starts.
fn fetch(url: &str) -> String {
    use std::io::{Read as _, Write as _};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let started = Instant::now();
    loop {
        if let Ok(mut stream) = std::net::TcpStream::connect(host) {
            let request = format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n");
            let mut response = String::new();
            let ok = |status: &str| {
                status.starts_with("HTTP/1.0 200") || status.starts_with("HTTP/1.1 200")
            };
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_to_string(&mut response).is_ok()
                && ok(&response)
            {
                let body = response
                    .split_once("\r\n\r\n")
                    .map(|(_, b)| b)
                    .unwrap_or("");
                return body.to_string();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "cannot GET {url}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The audit rows of a rollout that change its phase, stage or split, from the JSON API.
fn transitions(base: &str, id: &str) -> (Vec<String>, Vec<String>) {
    let detail: Value =
        serde_json::from_str(&fetch(&format!("{base}/api/v1/rollouts/{id}"))).unwrap();
    let key = |state: &Value| {
        let phase = match &state["phase"] {
            Value::Object(object) => object["phase"].clone(),
            other => other.clone(),
        };
        (
            phase,
            state["stage_index"].clone(),
            state["split_bp"].clone(),
        )
    };
    let mut all = Vec::new();
    let mut changed = Vec::new();
    for event in detail["events"].as_array().unwrap() {
        let id = event["id"].as_str().unwrap().to_string();
        if event["before"].get("phase").is_some() && key(&event["before"]) != key(&event["after"]) {
            changed.push(id.clone());
        }
        all.push(id);
    }
    (all, changed)
}

#[test]
fn every_page_renders_in_headless_chromium_from_a_demo_store() {
    let Some(browser) = chromium() else {
        eprintln!("skipping the browser test: chromium is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let store = format!("sqlite://{}", dir.path().join("demo.db").display());
    // 30 simulated hours: support-v43 regresses and is rolled back, support-v42 reaches 50%.
    let mut demo = Reaped(
        crate::common::evalgate()
            .args(["--store", &store, "demo", "--hours", "30", "--serve"])
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .env_remove("EVALGATE_ADMIN_TOKEN")
            .env("EVALGATE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let stdout = demo.0.stdout.take().unwrap();
    let mut base = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        eprintln!("demo: {line}");
        if let Some(rest) = line.strip_prefix("web view: ") {
            base = rest
                .split_whitespace()
                .next()
                .map(|url| url.trim_end_matches('/').to_string());
            break;
        }
    }
    let base = base.expect("the demo prints the web view's URL");
    assert_eq!(base, format!("http://127.0.0.1:{port}"));
    fetch(&format!("{base}/healthz"));

    let list = load(browser, dir.path(), &base, "/", "rollouts", 420);
    let finished = &list[list.find("id=\"finished\"").expect("a finished table")..];
    assert!(finished.contains("data-rollout=\"support-v43\""), "{list}");
    assert!(list.contains("data-rollout=\"support-v42\""));
    assert!(finished.contains("phase rolled_back"));

    let page = load(
        browser,
        dir.path(),
        &base,
        "/rollouts/support-v43",
        "rollout",
        2000,
    );
    for needle in [
        "class=\"series canary\"",
        "class=\"series baseline\"",
        "class=\"band canary\"",
        "class=\"e-value\"",
        "class=\"threshold\"",
        "class=\"halt-mark\"",
        "data-metric=\"pass_rate\"",
        "class=\"chart timeline\"",
        "class=\"halt\"",
        "class=\"sink\"",
    ] {
        assert!(page.contains(needle), "support-v43 has no {needle}");
    }
    let threshold: f64 = page
        .split("data-threshold=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|value| value.parse().ok())
        .expect("the e-value chart carries its 1/α");
    assert!(threshold > 1.0, "{threshold}");
    let (all, changed) = transitions(&base, "support-v43");
    assert!(changed.len() >= 3, "start, promote, rollback: {changed:?}");
    let table = &page[page.find("id=\"transitions\"").unwrap()..page.find("id=\"gates\"").unwrap()];
    for id in &changed {
        assert!(
            table.contains(&format!("class=\"transition\" data-event-id=\"{id}\"")),
            "transition {id} is not listed"
        );
    }
    let audit = &page[page.find("id=\"audit\"").unwrap()..];
    for id in &all {
        assert!(
            audit.contains(&format!("data-event-id=\"{id}\"")),
            "audit row {id} missing"
        );
    }

    let review = load(
        browser,
        dir.path(),
        &base,
        "/rollouts/support-v42/review",
        "review",
        1800,
    );
    assert!(review.contains("Review of"), "{review}");
    assert!(
        review.contains("3/4 (50%)"),
        "support-v42 is at 50% after 30 h: {review}"
    );
    assert!(review.contains("class=\"review-pair\"") || review.contains("id=\"review-note\""));

    // /metrics after a rollback: promtool accepts it and the final status is there.
    let metrics = fetch(&format!("{base}/metrics"));
    assert!(
        metrics.contains("evalgate_rollout_status{rollout=\"support-v43\",status=\"failed\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains("evalgate_rollout_phase{rollout=\"support-v43\",phase=\"rolled_back\"} 1\n")
    );
    assert!(
        metrics.contains("evalgate_gate_e_value{rollout=\"support-v42\",metric=\"pass_rate\"}")
    );
    promtool(&metrics);
}

fn promtool(text: &str) {
    use std::io::Write as _;
    if Command::new("promtool").arg("--version").output().is_err() {
        if std::env::var("EVALGATE_REQUIRE_PROMETHEUS").as_deref() == Ok("1") {
            panic!("EVALGATE_REQUIRE_PROMETHEUS=1 but promtool is not installed");
        }
        eprintln!("skipping promtool: not installed");
        return;
    }
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
