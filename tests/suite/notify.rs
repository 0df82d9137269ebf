//! The transition notifier against a local HTTP server: delivery, retries on 5xx, giving up
//! without failing, the Slack payload, and the owner's webhook taking precedence.
#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns unwrap too

use chrono::{DateTime, Utc};
use evalgate::adapters::notify::{Notification, Notifier, NotifyOutcome, Severity};
use evalgate::config::{NotifyConfig, NotifyFormat};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn notification() -> Notification {
    Notification {
        id: "n-1".to_string(),
        rollout_id: "support-v42".into(),
        flag_key: "support-bot".into(),
        owner: Some("team-support".into()),
        event: "rollback".into(),
        severity: Severity::Critical,
        summary: "rolled back 10% → 0%".into(),
        reason: "pass_rate halted: canary 0.81 vs baseline 0.93".into(),
        before: json!({"phase": "running", "basis_points": 1000}),
        after: json!({"phase": "rolled_back", "basis_points": 0}),
        evidence: json!({"pass_rate": {"n_canary": 400, "p_value": 0.001}}),
        at: DateTime::parse_from_rfc3339("2026-11-26T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc),
    }
}

fn notifier(webhook: Option<String>, format: NotifyFormat, retries: u32) -> Notifier {
    Notifier::from_config(&NotifyConfig {
        webhook,
        format,
        retries,
        retry_backoff_ms: 1,
        ..NotifyConfig::default()
    })
    .unwrap()
}

async fn bodies(server: &MockServer) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect()
}

#[tokio::test]
async fn a_transition_is_posted_as_json_with_reason_and_evidence() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&server)
        .await;
    let notifier = notifier(
        Some(format!("{}/hook", server.uri())),
        NotifyFormat::Json,
        3,
    );
    let outcome = notifier.send(None, &notification()).await;
    assert_eq!(
        outcome,
        NotifyOutcome::Delivered {
            attempts: 1,
            http_status: 204
        }
    );
    let body = &bodies(&server).await[0];
    assert_eq!(body["rollout"]["id"], "support-v42");
    assert_eq!(body["rollout"]["owner"], "team-support");
    assert_eq!(body["transition"]["event"], "rollback");
    assert_eq!(body["transition"]["after"]["basis_points"], 0);
    assert_eq!(body["severity"], "critical");
    assert!(
        body["reason"]
            .as_str()
            .unwrap()
            .contains("pass_rate halted")
    );
    assert_eq!(body["evidence"]["pass_rate"]["n_canary"], 400);
}

#[tokio::test]
async fn a_5xx_is_retried_until_it_is_delivered() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let notifier = notifier(Some(server.uri()), NotifyFormat::Json, 3);
    let outcome = notifier.send(None, &notification()).await;
    assert_eq!(
        outcome,
        NotifyOutcome::Delivered {
            attempts: 3,
            http_status: 200
        }
    );
    assert_eq!(bodies(&server).await.len(), 3);
}

#[tokio::test]
async fn giving_up_is_reported_not_fatal() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500))
        .expect(3)
        .mount(&server)
        .await;
    let notifier = notifier(Some(server.uri()), NotifyFormat::Json, 2);
    match notifier.send(None, &notification()).await {
        NotifyOutcome::GaveUp { attempts, error } => {
            assert_eq!(attempts, 3);
            assert!(error.contains("500"), "{error}");
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(404))
        .expect(1)
        .mount(&server)
        .await;
    let notifier = notifier(Some(server.uri()), NotifyFormat::Json, 5);
    let outcome = notifier.send(None, &notification()).await;
    assert!(matches!(outcome, NotifyOutcome::GaveUp { attempts: 1, .. }));
}

#[tokio::test]
async fn an_unreachable_webhook_gives_up_without_an_error() {
    // Port 9 (discard) on loopback refuses connections.
    let notifier = notifier(
        Some("http://127.0.0.1:9/hook".into()),
        NotifyFormat::Json,
        1,
    );
    let outcome = notifier.send(None, &notification()).await;
    match outcome {
        NotifyOutcome::GaveUp { attempts, error } => {
            assert_eq!(attempts, 2);
            assert!(
                !error.contains("127.0.0.1:9/hook"),
                "no URL in errors: {error}"
            );
        }
        other => panic!("expected GaveUp, got {other:?}"),
    }
}

#[tokio::test]
async fn the_slack_format_sends_text_and_blocks() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&server)
        .await;
    let notifier = notifier(Some(server.uri()), NotifyFormat::Slack, 0);
    notifier.send(None, &notification()).await;
    let body = &bodies(&server).await[0];
    let text = body["text"].as_str().unwrap();
    assert!(text.contains("support-v42"), "{text}");
    assert!(text.contains("rolled back 10% → 0%"), "{text}");
    let blocks = body["blocks"].as_array().unwrap();
    assert!(!blocks.is_empty());
    assert!(blocks.iter().all(|block| block["type"] == "section"));
}

#[tokio::test]
async fn the_owners_webhook_overrides_the_default() {
    let default_server = MockServer::start().await;
    let owner_server = MockServer::start().await;
    for server in [&default_server, &owner_server] {
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200))
            .mount(server)
            .await;
    }
    let notifier = notifier(Some(default_server.uri()), NotifyFormat::Json, 0);
    let owner_url = format!("{}/owner", owner_server.uri());
    notifier.send(Some(&owner_url), &notification()).await;
    assert_eq!(bodies(&owner_server).await.len(), 1);
    assert_eq!(bodies(&default_server).await.len(), 0);

    let nowhere = notifier_without_webhook();
    assert_eq!(
        nowhere.send(None, &notification()).await,
        NotifyOutcome::NoWebhook
    );
}

fn notifier_without_webhook() -> Notifier {
    notifier(None, NotifyFormat::Json, 0)
}
