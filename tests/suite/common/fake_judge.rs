//! A local OpenAI-compatible judge (axum) for tests and the judge benchmark: it records every
//! call (time, body, auth header), answers with a scripted behaviour after an optional
//! latency, and can enforce its own sliding-window rate limit, counting the 429s it sends.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::time::Instant;

/// One call the fake received.
#[derive(Debug, Clone)]
pub struct FakeCall {
    /// When it arrived (tokio clock).
    pub at: Instant,
    /// The JSON body.
    pub body: Value,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

impl FakeCall {
    /// The user message of the request.
    pub fn user_message(&self) -> String {
        self.body["messages"][1]["content"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct FakeReply {
    /// HTTP status.
    pub status: u16,
    /// JSON body, or raw text when `raw` is set.
    pub body: Value,
    /// A raw (non-JSON) body instead of `body`.
    pub raw: Option<String>,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Extra delay before answering (on top of the server latency).
    pub delay: Duration,
}

impl FakeReply {
    /// A 200 chat completion whose assistant message is `content`, with usage.
    pub fn content(content: &str) -> FakeReply {
        FakeReply {
            status: 200,
            body: json!({
                "id": "chatcmpl-test", "object": "chat.completion", "created": 1, "model": "judge-test",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}
            }),
            raw: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// A rubric verdict.
    pub fn verdict(pass: bool, score: f64) -> FakeReply {
        FakeReply::content(&json!({"pass": pass, "score": score, "reason": "scripted"}).to_string())
    }

    /// An error status with an OpenAI-style error body.
    pub fn status(status: u16) -> FakeReply {
        FakeReply {
            status,
            body: json!({"error": {"message": format!("scripted {status}"), "type": "test", "param": null, "code": null}}),
            raw: None,
            headers: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> FakeReply {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Waits `delay` before answering.
    pub fn delayed(mut self, delay: Duration) -> FakeReply {
        self.delay = delay;
        self
    }
}

/// Decides the reply from the call's index (0-based) and body.
pub type Behaviour = Arc<dyn Fn(usize, &Value) -> FakeReply + Send + Sync>;

struct FakeState {
    behaviour: Behaviour,
    latency: Duration,
    rate_limit: Option<(usize, Duration)>,
    calls: Mutex<Vec<FakeCall>>,
    recent: Mutex<VecDeque<Instant>>,
    rate_limited: AtomicU64,
}

/// A running fake judge.
pub struct FakeJudge {
    /// The base URL to configure (`…/v1`).
    pub base_url: String,
    state: Arc<FakeState>,
    server: tokio::task::JoinHandle<()>,
}

impl FakeJudge {
    /// Starts a fake answering with `behaviour`, no latency, no rate limit.
    pub async fn start(behaviour: Behaviour) -> FakeJudge {
        FakeJudge::start_with(behaviour, Duration::ZERO, None).await
    }

    /// Starts a fake with a latency per call and, optionally, its own rate limit of at most
    /// `limit.0` calls in any sliding window of `limit.1` (excess calls get 429, counted).
    pub async fn start_with(
        behaviour: Behaviour,
        latency: Duration,
        rate_limit: Option<(usize, Duration)>,
    ) -> FakeJudge {
        let state = Arc::new(FakeState {
            behaviour,
            latency,
            rate_limit,
            calls: Mutex::new(Vec::new()),
            recent: Mutex::new(VecDeque::new()),
            rate_limited: AtomicU64::new(0),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(handle))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve");
        });
        FakeJudge {
            base_url: format!("http://{address}/v1"),
            state,
            server,
        }
    }

    /// Every call received so far.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.state.calls.lock().expect("calls").clone()
    }

    /// A counter of the calls received, usable after the fake is moved.
    pub fn calls_counter(&self) -> Arc<dyn Fn() -> usize + Send + Sync> {
        let state = self.state.clone();
        Arc::new(move || state.calls.lock().expect("calls").len())
    }

    /// How many calls were received.
    pub fn call_count(&self) -> usize {
        self.state.calls.lock().expect("calls").len()
    }

    /// 429s sent because of the fake's own rate limit.
    pub fn rate_limited(&self) -> u64 {
        self.state.rate_limited.load(Ordering::SeqCst)
    }
}

impl Drop for FakeJudge {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(state): State<Arc<FakeState>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let now = Instant::now();
    let index = {
        let mut calls = state.calls.lock().expect("calls");
        calls.push(FakeCall {
            at: now,
            body: body.clone(),
            authorization: headers
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
        });
        calls.len() - 1
    };
    if let Some((limit, window)) = state.rate_limit {
        let mut recent = state.recent.lock().expect("recent");
        while let Some(front) = recent.front() {
            if now.duration_since(*front) >= window {
                recent.pop_front();
            } else {
                break;
            }
        }
        if recent.len() >= limit {
            state.rate_limited.fetch_add(1, Ordering::SeqCst);
            return (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response();
        }
        recent.push_back(now);
    }
    let reply = (state.behaviour)(index, &body);
    let wait = state.latency + reply.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = match reply.raw {
        Some(raw) => (status, raw).into_response(),
        None => (status, Json(reply.body)).into_response(),
    };
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
