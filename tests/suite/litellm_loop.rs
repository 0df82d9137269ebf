//! The closed loop with real parts: a real LiteLLM proxy (the pinned version `.ci/litellm.sh`
//! installs; offline, every deployment a `mock_response`) with evalgate's routing hook
//! (`integrations/litellm/evalgate_router.py`) and LiteLLM's own generic API logger pointed at
//! a real `evalgate serve` (`POST /v1/ingest?format=litellm`, ndjson). A load generator sends
//! chat completions for many tenants through LiteLLM; `serve` ticks on an accelerated schedule
//! (every 10 s, 10 s windows), scores what LiteLLM logged and moves the flag LiteLLM routes by.
//!
//! - bad canary (`loop/config.yaml`: its mock answers mostly refuse): the rollout rolls back,
//!   and LiteLLM's own responses then come only from the baseline model group;
//! - healthy canary (`loop/config.healthy.yaml`): the rollout completes, and at the end LiteLLM
//!   serves everyone the canary.
//!
//! Needs `EVALGATE_LITELLM` = the `litellm` executable (`bash .ci/litellm.sh` prints it); without
//! it the test is skipped, unless `EVALGATE_REQUIRE_LITELLM=1` (CI), which makes it a failure.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

const INGEST_TOKEN: &str = "loop-ingest-token";
const MASTER_KEY: &str = "sk-loop-master";
const ROLLOUT: &str = "loop";
const FLAG: &str = "support-bot";

/// One loop at a time: each runs a LiteLLM proxy, `serve` and a load generator on 2 cores.
static ONE_LOOP: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn litellm_bin() -> Option<PathBuf> {
    match std::env::var_os("EVALGATE_LITELLM") {
        Some(path) if !path.is_empty() => Some(PathBuf::from(path)),
        _ => {
            if std::env::var("EVALGATE_REQUIRE_LITELLM").as_deref() == Ok("1") {
                panic!(
                    "EVALGATE_REQUIRE_LITELLM=1 but EVALGATE_LITELLM is unset; run `bash .ci/litellm.sh`"
                );
            }
            eprintln!("skipped: EVALGATE_LITELLM is unset (bash .ci/litellm.sh installs LiteLLM)");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed (and its log kept) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(40);
        format!(
            "--- last lines of {} ({}):\n{}",
            self.name,
            self.log.display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(name: &'static str, mut command: Command, dir: &Path) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).unwrap();
    let child = command
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {name}: {err}"));
    Proc { name, child, log }
}

fn http_get(url: &str) -> Option<(u16, String)> {
    let parsed = url.strip_prefix("http://")?;
    let (host, path) = parsed.split_once('/').unwrap_or((parsed, ""));
    let mut stream = std::net::TcpStream::connect(host).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    use std::io::{Read as _, Write as _};
    write!(
        stream,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {MASTER_KEY}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())?;
    Some((status, body))
}

fn wait_until_up(url: &str, proc: &mut Proc, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if let Some((200, _)) = http_get(url) {
            return;
        }
        if let Ok(Some(status)) = proc.child.try_wait() {
            panic!("{} exited with {status}\n{}", proc.name, proc.log_tail());
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "{} not up at {url} after {timeout:?}\n{}",
        proc.name,
        proc.log_tail()
    );
}

fn evalgate(dir: &Path) -> Command {
    let mut command = crate::common::evalgate();
    command
        .current_dir(dir)
        .args(["--config", "evalgate.toml"])
        .env("EVALGATE_LOG", "info");
    command
}

fn run_ok(mut command: Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Writes the config, the suite and the plan of an accelerated rollout into `dir`.
fn write_setup(dir: &Path) {
    let evals = dir.join("evals");
    std::fs::create_dir_all(&evals).unwrap();
    std::fs::copy(
        repo().join("integrations/litellm/loop/evals/litellm-loop.yaml"),
        evals.join("litellm-loop.yaml"),
    )
    .unwrap();
    std::fs::write(
        dir.join("evalgate.toml"),
        format!(
            "[store]\nurl = \"sqlite://{}\"\n\n\
             [evals]\ndir = \"evals\"\ndefault_suite = \"litellm-loop\"\n\n\
             [sampling]\nn_per_arm = 40\nwindow = \"10s\"\nreadiness_delay = \"4s\"\nper_tenant_cap = 3\n\n\
             [schedule]\nticks = \"*/10 * * * * *\"\n",
            dir.join("evalgate.db").display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("plan.toml"),
        "tick_interval = \"10s\"\nfail_closed = false\n\n\
         [[stages]]\nname = \"50%\"\ncanary_basis_points = 5000\nmin_duration = \"40s\"\n\
         max_duration = \"4m\"\nmin_samples = 80\n\n\
         [[stages]]\nname = \"100%\"\ncanary_basis_points = 10000\nmin_duration = \"20s\"\n\
         max_duration = \"2m\"\nmonitoring = true\n",
    )
    .unwrap();
}

struct Loop {
    dir: tempfile::TempDir,
    serve: Proc,
    proxy: Proc,
    evalgate_url: String,
    proxy_url: String,
}

fn start_loop(litellm: &Path, proxy_config: &str) -> Loop {
    let dir = tempfile::tempdir().unwrap();
    write_setup(dir.path());
    let mut start = evalgate(dir.path());
    start.args([
        "rollout",
        "start",
        "--id",
        ROLLOUT,
        "--flag",
        FLAG,
        "--baseline",
        "support-bot@v41",
        "--canary",
        "support-bot@v42",
        "--suite",
        "litellm-loop",
        "--plan",
        "plan.toml",
        "--owner",
        "loop-test",
        "--json",
    ]);
    run_ok(start);

    let evalgate_port = free_port();
    let evalgate_url = format!("http://127.0.0.1:{evalgate_port}");
    let mut serve_cmd = evalgate(dir.path());
    serve_cmd
        .args(["serve", "--bind", &format!("127.0.0.1:{evalgate_port}")])
        .env("EVALGATE_INGEST_TOKEN", INGEST_TOKEN);
    let mut serve = spawn("evalgate-serve", serve_cmd, dir.path());
    wait_until_up(
        &format!("{evalgate_url}/healthz"),
        &mut serve,
        Duration::from_secs(30),
    );

    let proxy_port = free_port();
    let proxy_url = format!("http://127.0.0.1:{proxy_port}");
    let mut proxy_cmd = Command::new(litellm);
    proxy_cmd
        .current_dir(dir.path())
        .args([
            "--config",
            &repo()
                .join("integrations/litellm/loop")
                .join(proxy_config)
                .display()
                .to_string(),
            "--host",
            "127.0.0.1",
            "--port",
            &proxy_port.to_string(),
        ])
        .env("PYTHONPATH", repo().join("integrations/litellm"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("EVALGATE_URL", &evalgate_url)
        .env("EVALGATE_FLAG", FLAG)
        .env("EVALGATE_CACHE_SECONDS", "1")
        .env(
            "EVALGATE_INGEST_URL",
            format!("{evalgate_url}/v1/ingest?format=litellm"),
        )
        .env(
            "EVALGATE_INGEST_AUTHORIZATION",
            format!("Bearer {INGEST_TOKEN}"),
        )
        .env("OTEL_ENDPOINT", format!("{evalgate_url}/v1/traces"))
        .env("OTEL_EXPORTER", "otlp_http")
        .env(
            "OTEL_HEADERS",
            format!("Authorization=Bearer {INGEST_TOKEN}"),
        )
        .env("OTEL_BSP_SCHEDULE_DELAY", "500")
        .env("LITELLM_MASTER_KEY", MASTER_KEY)
        .env("DEFAULT_FLUSH_INTERVAL_SECONDS", "1")
        .env("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        .env_remove("DATABASE_URL");
    let mut proxy = spawn("litellm", proxy_cmd, dir.path());
    wait_until_up(
        &format!("{proxy_url}/health/liveliness"),
        &mut proxy,
        Duration::from_secs(180),
    );
    Loop {
        dir,
        serve,
        proxy,
        evalgate_url,
        proxy_url,
    }
}

fn loadgen(proxy_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command
        .arg(repo().join("integrations/litellm/loop/loadgen.py"))
        .args([
            "--url",
            proxy_url,
            "--key",
            MASTER_KEY,
            "--model",
            "support-bot",
        ])
        .args(args)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

fn rollout(evalgate_url: &str) -> Value {
    let (status, body) = http_get(&format!("{evalgate_url}/api/v1/rollouts/{ROLLOUT}"))
        .expect("rollout api answers");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("rollout json: {err}: {body}"))
}

fn phase(evalgate_url: &str) -> String {
    let rollout = rollout(evalgate_url);
    rollout["rollout"]["phase"]
        .as_str()
        .or_else(|| rollout["phase"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// Sends load until the rollout reaches one of `finals`; returns the phase reached.
fn drive_until(looped: &mut Loop, finals: &[&str], timeout: Duration) -> String {
    let load_cmd = loadgen(
        &looped.proxy_url,
        &[
            "--rate",
            "20",
            "--duration",
            &timeout.as_secs().to_string(),
            "--requests",
            "1000000",
            "--tenants",
            "400",
        ],
    );
    let mut load = spawn("loadgen", load_cmd, looped.dir.path());
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        let now_phase = phase(&looped.evalgate_url);
        if now_phase != last {
            // the reason says why a healthy canary was held or rolled back on a loaded machine
            let reason = rollout(&looped.evalgate_url)["state"]["phase"]["reason"].clone();
            eprintln!("[loop] rollout phase: {now_phase} (reason: {reason})");
            last = now_phase.clone();
        }
        if finals.contains(&now_phase.as_str()) {
            let _ = load.child.kill();
            return now_phase;
        }
        for proc in [&mut looped.serve, &mut looped.proxy] {
            if let Ok(Some(status)) = proc.child.try_wait() {
                panic!("{} exited with {status}\n{}", proc.name, proc.log_tail());
            }
        }
    }
    let status = run_ok({
        let mut c = evalgate(looped.dir.path());
        c.args(["rollout", "status", ROLLOUT]);
        c
    });
    panic!(
        "rollout still `{last}` after {timeout:?}\n{}\n{}\n{}",
        String::from_utf8_lossy(&status.stdout),
        looped.serve.log_tail(),
        load.log_tail()
    );
}

/// What LiteLLM itself answers now: a short load run's summary (which model group served).
fn served_now(proxy_url: &str, seconds: u32) -> Value {
    let output = loadgen(
        proxy_url,
        &[
            "--rate",
            "20",
            "--duration",
            &seconds.to_string(),
            "--requests",
            "100000",
            "--tenants",
            "400",
        ],
    )
    .stderr(Stdio::inherit())
    .output()
    .unwrap();
    assert!(output.status.success(), "loadgen failed: {}", output.status);
    serde_json::from_slice(&output.stdout).unwrap()
}

fn ingested_by_arm(dir: &Path) -> (u64, u64) {
    let output = run_ok({
        let mut c = evalgate(dir);
        c.args(["rollout", "status", ROLLOUT, "--json"]);
        c
    });
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    eprintln!(
        "[loop] rollout status: {}",
        text.chars().take(2000).collect::<String>()
    );
    let db = dir.join("evalgate.db");
    let count = |arm: &str| -> u64 {
        let output = Command::new("python3")
            .args([
                "-c",
                "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); \
                 print(c.execute(\"SELECT COUNT(*) FROM requests WHERE arm=? AND model LIKE 'support-bot@%'\", (sys.argv[2],)).fetchone()[0])",
                &db.display().to_string(),
                arm,
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap_or(0)
    };
    (count("baseline"), count("canary"))
}

#[test]
fn a_bad_canary_is_rolled_back_and_litellm_stops_routing_to_it() {
    bad_canary_loop("config.yaml");
}

/// The same loop with LiteLLM's OpenTelemetry callback as the only feed (`POST /v1/traces`,
/// protobuf; `loop/config.otel.yaml` has no generic logger).
#[test]
fn over_otlp_a_bad_canary_is_rolled_back_too() {
    bad_canary_loop("config.otel.yaml");
}

fn bad_canary_loop(proxy_config: &str) {
    let Some(litellm) = litellm_bin() else {
        return;
    };
    let _one = ONE_LOOP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut looped = start_loop(&litellm, proxy_config);
    let before = served_now(&looped.proxy_url, 5);
    assert!(
        before["by_arm"]["canary"].as_u64().unwrap_or(0) > 0,
        "at 50% LiteLLM routes some tenants to the canary: {before}"
    );
    let reached = drive_until(
        &mut looped,
        &["rolled_back", "completed", "held"],
        Duration::from_secs(300),
    );
    assert_eq!(reached, "rolled_back", "{}", looped.serve.log_tail());
    let detail = rollout(&looped.evalgate_url);
    let reason = detail["state"]["phase"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    eprintln!("[loop] rolled back: {reason}");
    assert!(
        reason.contains("pass_rate"),
        "the suite's pass rate rolled it back, not errors or latency: {reason}\n{detail}"
    );
    assert_eq!(detail["split"]["basis_points"], 0, "{}", detail["split"]);

    // LiteLLM's routing follows: after the hook's 1 s cache, no response comes from the canary.
    std::thread::sleep(Duration::from_secs(3));
    let after = served_now(&looped.proxy_url, 8);
    assert!(after["ok"].as_u64().unwrap_or(0) > 50, "{after}");
    assert_eq!(
        after["by_model_group"]["support-bot@v42"]
            .as_u64()
            .unwrap_or(0),
        0,
        "no canary responses after the rollback: {after}"
    );
    assert_eq!(after["canary_share"].as_f64(), Some(0.0), "{after}");

    // what evalgate gated on came from LiteLLM's logger, attributed to both arms (how many
    // canary rows depends on how fast the gate rolled it back: 41 on a loaded machine)
    let (baseline, canary) = ingested_by_arm(looped.dir.path());
    assert!(
        baseline > 100 && canary > 20,
        "ingested baseline {baseline}, canary {canary}"
    );
}

#[test]
fn a_healthy_canary_is_promoted_and_litellm_serves_it_to_everyone() {
    let Some(litellm) = litellm_bin() else {
        return;
    };
    let _one = ONE_LOOP
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut looped = start_loop(&litellm, "config.healthy.yaml");
    let reached = drive_until(
        &mut looped,
        &["completed", "rolled_back", "held"],
        Duration::from_secs(420),
    );
    assert_eq!(
        reached,
        "completed",
        "reason: {}\n{}",
        rollout(&looped.evalgate_url)["state"]["phase"]["reason"],
        looped.serve.log_tail()
    );
    std::thread::sleep(Duration::from_secs(3));
    let after = served_now(&looped.proxy_url, 6);
    assert!(after["ok"].as_u64().unwrap_or(0) > 40, "{after}");
    assert_eq!(
        after["by_model_group"]["support-bot@v41"]
            .as_u64()
            .unwrap_or(0),
        0,
        "everyone is on the canary after completion: {after}"
    );
}
