//! The 50% review packet (`/rollouts/{id}/review`): the latest gate verdicts, then each sampled
//! canary response that failed an evaluator, with the evaluators' reasons, beside the nearest
//! baseline response (what `evalgate rollout review` prints as Markdown). Pure.

use std::fmt::Write as _;

use super::html::{escape, page, path_segment};
use super::view::{ResponseView, ReviewPage};
use crate::domain::Timestamp;

fn response(out: &mut String, class: &str, title: &str, response: &ResponseView) {
    let _ = write!(
        out,
        "<div class=\"card {class}\"><h3>{title} <span class=\"muted small\">{} · tenant {} · {}</span></h3>\
         <div class=\"small muted\">prompt</div><pre>{}</pre>\
         <div class=\"small muted\">response</div><pre>{}</pre></div>",
        escape(&response.request_id),
        escape(&response.tenant_id),
        escape(&response.ts),
        escape(&response.prompt),
        escape(&response.output),
    );
}

/// `/rollouts/{id}/review`.
pub fn review_page(view: &ReviewPage, now: Timestamp) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>Review of <a href=\"/rollouts/{}\">{}</a></h1><p>baseline {} vs canary {} — {} at \
         stage {}</p><h2>Gates</h2>",
        path_segment(&view.rollout_id),
        escape(&view.rollout_id),
        escape(&view.baseline_target),
        escape(&view.canary_target),
        escape(&view.phase.as_str().replace('_', " ")),
        escape(&view.stage),
    );
    if view.gates.is_empty() {
        body.push_str("<p class=\"muted\">No gate verdicts recorded yet.</p>");
    } else {
        body.push_str(
            "<table id=\"review-gates\"><tr><th>metric</th><th>authority</th><th>verdict</th>\
             <th>reason</th></tr>",
        );
        for gate in &view.gates {
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}</td><td class=\"verdict-{}\">{}</td><td class=\"small\">{}</td></tr>",
                escape(&gate.metric),
                if gate.promotion_authority {
                    "yes"
                } else {
                    "no"
                },
                escape(&gate.verdict),
                escape(&gate.verdict.replace('_', " ")),
                escape(&gate.reason),
            );
        }
        body.push_str("</table>");
    }
    let _ = write!(
        body,
        "<h2>Failed canary responses ({})</h2>",
        view.pairs.len()
    );
    if let Some(note) = &view.note {
        let _ = write!(
            body,
            "<p class=\"muted\" id=\"review-note\">{}</p>",
            escape(note)
        );
    }
    for (index, pair) in view.pairs.iter().enumerate() {
        let _ = write!(
            body,
            "<section class=\"review-pair\"><h3>{}. failed:</h3><ul>",
            index + 1
        );
        for (evaluator, reason) in &pair.failures {
            let _ = write!(
                body,
                "<li class=\"failure\"><b>{}</b>: {}</li>",
                escape(evaluator),
                escape(reason)
            );
        }
        body.push_str("</ul><div class=\"pair\">");
        response(&mut body, "canary-response", "canary", &pair.canary);
        match (&pair.baseline, &pair.matched_by) {
            (Some(baseline), Some(how)) => {
                let title = format!("nearest baseline <span class=\"muted small\">({})</span>", escape(how));
                response(&mut body, "baseline-response", &title, baseline);
            }
            _ => body.push_str(
                "<div class=\"card baseline-response muted\">No baseline response to compare with.</div>",
            ),
        }
        body.push_str("</div></section>");
    }
    page(&format!("review {}", view.rollout_id), now, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::rollout::PhaseName;
    use crate::web::view::{GateRow, ReviewPairView};
    use chrono::{TimeZone, Utc};

    fn reply(id: &str, output: &str) -> ResponseView {
        ResponseView {
            request_id: id.into(),
            tenant_id: "t1".into(),
            ts: "2026-11-02T09:30:00+00:00".into(),
            prompt: "How do I reset my password?".into(),
            output: output.into(),
        }
    }

    #[test]
    fn failed_canary_responses_sit_beside_their_baseline_escaped() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let view = ReviewPage {
            rollout_id: "r<1>".into(),
            baseline_target: "bot@v41".into(),
            canary_target: "bot@v42".into(),
            phase: PhaseName::AwaitingApproval,
            stage: "3/4 (50%)".into(),
            gates: vec![GateRow {
                metric: "pass_rate".into(),
                promotion_authority: true,
                verdict: "promote_ready".into(),
                reason: "proven".into(),
            }],
            note: None,
            pairs: vec![ReviewPairView {
                canary: reply("c1", "<script>alert(1)</script>"),
                failures: vec![("valid_json".into(), "not JSON".into())],
                baseline: Some(reply("b1", "Go to Settings")),
                matched_by: Some("same tenant, prompt overlap 1.00".into()),
            }],
        };
        let html = review_page(&view, now);
        assert!(html.contains("Failed canary responses (1)"));
        assert!(html.contains("<b>valid_json</b>: not JSON"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"/rollouts/r%3C1%3E\""));
        assert!(html.contains("class=\"card baseline-response\""));
        assert!(html.contains("same tenant, prompt overlap 1.00"));
    }

    #[test]
    fn an_empty_review_says_why() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let view = ReviewPage {
            rollout_id: "r".into(),
            baseline_target: "a".into(),
            canary_target: "b".into(),
            phase: PhaseName::Running,
            stage: "1/4 (1%)".into(),
            gates: Vec::new(),
            note: Some("no sampled canary response failed an evaluator".into()),
            pairs: Vec::new(),
        };
        let html = review_page(&view, now);
        assert!(html.contains("No gate verdicts recorded yet."));
        assert!(html.contains("no sampled canary response failed an evaluator"));
    }
}
