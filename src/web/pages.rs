//! The rollouts list (`/`) and the page of one rollout (`/rollouts/{id}`): the stage timeline
//! with every transition and its reason, per gating metric the canary and baseline series and
//! the e-value against its 1/α line, halt signals, flag sinks and the audit trail. Pure: data
//! and `now` in, escaped HTML out.

use std::fmt::Write as _;

use super::html::{escape, page, path_segment, percent, phase_badge, span, time};
use super::svg::{e_value_chart, series_chart, timeline};
use super::view::{EventView, MetricPanel, RolloutPage, RolloutSummary};
use crate::domain::{HumanDuration, Timestamp};

fn or_dash(text: Option<&str>) -> String {
    text.map_or_else(|| "—".to_string(), escape)
}

fn rollout_link(id: &str) -> String {
    format!(
        "<a class=\"rollout-link\" href=\"/rollouts/{}\">{}</a>",
        path_segment(id),
        escape(id)
    )
}

fn in_stage(summary: &RolloutSummary) -> String {
    if !summary.active {
        return "finished".to_string();
    }
    let secs = |duration: Option<HumanDuration>| duration.map(HumanDuration::as_secs);
    match (secs(summary.in_stage), secs(summary.min_duration)) {
        (Some(elapsed), Some(min)) => {
            let met = if elapsed >= min {
                "<span class=\"good\">min met</span>"
            } else {
                "<span class=\"muted\">min not met</span>"
            };
            format!("{} of {} · {met}", span(elapsed), span(min))
        }
        (Some(elapsed), None) => span(elapsed),
        _ => "—".to_string(),
    }
}

/// The split the summary holds, `—` when its stored state has none.
fn split(summary: &RolloutSummary) -> String {
    summary.split_bp.map_or_else(|| "—".to_string(), percent)
}

fn next_decision(summary: &RolloutSummary, now: Timestamp) -> String {
    match (summary.active, summary.next_decision_at) {
        (false, _) => format!("ended {}", time(summary.updated_at, now)),
        (true, Some(at)) => time(at, now),
        (true, None) => "—".to_string(),
    }
}

fn summary_row(out: &mut String, summary: &RolloutSummary, now: Timestamp) {
    let failing = if summary.failed_windows > 0 {
        format!(
            " <span class=\"bad\">ticks failing ({})</span>",
            summary.failed_windows
        )
    } else {
        String::new()
    };
    let _ = write!(
        out,
        "<tr class=\"rollout\" data-rollout=\"{}\"><td>{}</td><td>{}{failing}</td><td>{}</td>\
         <td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"small\">{} → {}</td></tr>",
        escape(&summary.id),
        rollout_link(&summary.id),
        phase_badge(summary.phase.as_str()),
        escape(&summary.stage),
        split(summary),
        or_dash(summary.owner.as_deref()),
        in_stage(summary),
        next_decision(summary, now),
        escape(&summary.baseline_target),
        escape(&summary.canary_target),
    );
}

fn summary_table(out: &mut String, id: &str, rows: &[&RolloutSummary], now: Timestamp) {
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>rollout</th><th>phase</th><th>stage</th><th>split</th>\
         <th>owner</th><th>time in stage</th><th>next decision</th><th>baseline → canary</th></tr>"
    );
    for summary in rows {
        summary_row(out, summary, now);
    }
    out.push_str("</table>");
}

/// `/`: the active rollouts, then the finished ones.
pub fn rollouts_page(rollouts: &[RolloutSummary], now: Timestamp) -> String {
    let (active, finished): (Vec<&RolloutSummary>, Vec<&RolloutSummary>) =
        rollouts.iter().partition(|r| r.active);
    let mut body = String::from("<h1>Rollouts</h1>");
    let _ = write!(body, "<h2>Active ({})</h2>", active.len());
    if active.is_empty() {
        body.push_str("<p class=\"muted\">No active rollout.</p>");
    } else {
        summary_table(&mut body, "active", &active, now);
    }
    let _ = write!(body, "<h2>Finished ({})</h2>", finished.len());
    if finished.is_empty() {
        body.push_str("<p class=\"muted\">No finished rollout.</p>");
    } else {
        summary_table(&mut body, "finished", &finished, now);
    }
    page("rollouts", now, &body)
}

fn facts(out: &mut String, view: &RolloutPage, now: Timestamp) {
    let s = &view.summary;
    let reason = s
        .phase_reason
        .as_deref()
        .map_or_else(String::new, |r| format!(" — {}", escape(r)));
    let _ = write!(
        out,
        "<h1>{} {}</h1><div class=\"card kv\">\
         <span class=\"muted\">phase</span><span>{}{reason}</span>\
         <span class=\"muted\">flag</span><span>{}</span>\
         <span class=\"muted\">owner</span><span>{}</span>\
         <span class=\"muted\">baseline → canary</span><span>{} → {}</span>\
         <span class=\"muted\">suite</span><span>{}</span>\
         <span class=\"muted\">stage</span><span>{} at {}</span>\
         <span class=\"muted\">time in stage</span><span>{}</span>",
        escape(&s.id),
        phase_badge(s.phase.as_str()),
        escape(&s.phase.as_str().replace('_', " ")),
        escape(&s.flag_key),
        or_dash(s.owner.as_deref()),
        escape(&s.baseline_target),
        escape(&s.canary_target),
        or_dash(view.suite.as_deref()),
        escape(&s.stage),
        split(s),
        in_stage(s),
    );
    if let (true, Some(deadline)) = (s.active, view.deadline) {
        let _ = write!(
            out,
            "<span class=\"muted\">deadline</span><span>{}</span>",
            time(deadline, now)
        );
    }
    let _ = write!(
        out,
        "<span class=\"muted\">next decision</span><span>{}</span>\
         <span class=\"muted\">last decision</span><span id=\"last-reason\">{}</span>",
        next_decision(s, now),
        escape(&view.last_reason)
    );
    if let Some(hint) = &view.hint {
        let _ = write!(
            out,
            "<span class=\"muted\">next step</span><span>{}</span>",
            escape(hint)
        );
    }
    let _ = write!(
        out,
        "<span class=\"muted\">review</span><span><a href=\"/rollouts/{}/review\">the review packet \
         (failed canary responses beside the nearest baseline)</a></span></div>",
        path_segment(&s.id)
    );
}

fn event_row(out: &mut String, event: &EventView, class: &str, now: Timestamp) {
    let change = match (&event.before, &event.after) {
        (Some(before), Some(after)) => format!("{} → {}", escape(before), escape(after)),
        _ => "—".to_string(),
    };
    let flag = if event.is_override {
        " <span class=\"bad\">override</span>"
    } else {
        ""
    };
    let _ = write!(
        out,
        "<tr class=\"{class}\" data-event-id=\"{}\"><td>{}</td><td>{}{flag}</td><td>{}</td>\
         <td class=\"small\">{change}</td><td>{}</td></tr>",
        escape(&event.id),
        time(event.at, now),
        escape(&event.action),
        escape(&event.actor),
        escape(&event.reason)
    );
}

fn events_table(out: &mut String, id: &str, class: &str, events: &[&EventView], now: Timestamp) {
    let _ = write!(
        out,
        "<table id=\"{id}\"><tr><th>when</th><th>action</th><th>actor</th><th>change</th>\
         <th>reason</th></tr>"
    );
    for event in events {
        event_row(out, event, class, now);
    }
    out.push_str("</table>");
}

fn metric_card(out: &mut String, panel: &MetricPanel, stage_starts: &[Timestamp]) {
    let authority = if panel.promotion_authority {
        " · promotion authority"
    } else {
        ""
    };
    let latest = panel.e_values.iter().rev().find(|p| p.ln_e_value.is_some());
    let e_text = match latest.and_then(|p| p.ln_e_value.zip(p.ln_threshold)) {
        Some((ln_e, ln_threshold)) => format!(
            " · e-value {} vs 1/α {}",
            short_number(ln_e.exp()),
            short_number(ln_threshold.exp())
        ),
        None => String::new(),
    };
    let _ = write!(
        out,
        "<div class=\"card metric\" data-metric=\"{0}\"><h3>{0} <span class=\"verdict-{1}\">{2}</span>\
         <span class=\"muted small\">{authority}{e_text}</span></h3><p class=\"small\">{3}</p>\
         <div class=\"legend small\"><span class=\"canary\">━ canary</span>\
         <span class=\"baseline\">━ baseline</span><span class=\"muted\">bands: Wilson 95% \
         (single look, display only)</span><span class=\"e-value\">━ e-value</span>\
         <span class=\"threshold\">╌ 1/α</span></div>",
        escape(&panel.metric),
        escape(&panel.verdict),
        escape(&panel.verdict.replace('_', " ")),
        escape(&panel.reason),
    );
    let series = series_chart(&panel.metric, panel.ratio, &panel.arms, stage_starts);
    if series.is_empty() {
        out.push_str(
            "<p class=\"muted small\">No per-window series is stored for this metric.</p>",
        );
    }
    out.push_str(&series);
    out.push_str(&e_value_chart(&panel.metric, &panel.e_values, stage_starts));
    out.push_str("</div>");
}

fn short_number(value: f64) -> String {
    if !value.is_finite() {
        "∞".to_string()
    } else if value >= 1000.0 || (value > 0.0 && value < 0.01) {
        format!("{value:.2e}")
    } else {
        format!("{value:.2}")
    }
}

fn halts_and_sinks(out: &mut String, view: &RolloutPage, now: Timestamp) {
    let _ = write!(out, "<h2>Halt signals ({})</h2>", view.halts.len());
    if view.halts.is_empty() {
        out.push_str("<p class=\"muted\" id=\"halts\">No gate has fired.</p>");
    } else {
        out.push_str(
            "<table id=\"halts\"><tr><th>when</th><th>stage</th><th>metric</th><th>role</th>\
             <th>reason</th></tr>",
        );
        for halt in &view.halts {
            let _ = write!(
                out,
                "<tr class=\"halt\"><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td></tr>",
                time(halt.at, now),
                halt.stage + 1,
                escape(&halt.metric),
                escape(&halt.role),
                escape(&halt.reason)
            );
        }
        out.push_str("</table>");
    }
    out.push_str(
        "<h2>Flag sinks</h2><table id=\"sinks\"><tr><th>sink</th><th>holds</th>\
         <th>generation</th><th>sync</th></tr>",
    );
    for sink in &view.sinks {
        let sync = match (&sink.error, sink.in_sync) {
            (Some(error), _) => format!("<span class=\"bad\">error: {}</span>", escape(error)),
            (None, true) => "<span class=\"good\">in sync</span>".to_string(),
            (None, false) => "<span class=\"bad\">drift</span>".to_string(),
        };
        let _ = write!(
            out,
            "<tr class=\"sink\"><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{sync}</td></tr>",
            escape(&sink.sink),
            sink.basis_points
                .map_or_else(|| "nothing".to_string(), percent),
            sink.generation
                .map_or_else(|| "—".to_string(), |g| g.to_string())
        );
    }
    out.push_str("</table>");
}

/// `/rollouts/{id}`: everything about one rollout.
pub fn rollout_page(view: &RolloutPage, now: Timestamp) -> String {
    let mut body = String::new();
    facts(&mut body, view, now);
    body.push_str("<h2>Stage timeline</h2>");
    body.push_str(&timeline(&view.segments));
    let transitions: Vec<&EventView> = view.events.iter().filter(|e| e.transition).collect();
    events_table(&mut body, "transitions", "transition", &transitions, now);
    let _ = write!(body, "<h2>Gates ({})</h2>", view.metrics.len());
    if view.metrics.is_empty() {
        body.push_str("<p class=\"muted\">No tick has gated this rollout yet.</p>");
    }
    body.push_str("<div class=\"grid\" id=\"gates\">");
    for panel in &view.metrics {
        metric_card(&mut body, panel, &view.stage_starts);
    }
    body.push_str("</div>");
    halts_and_sinks(&mut body, view, now);
    let _ = write!(body, "<h2>Audit trail ({})</h2>", view.events.len());
    let all: Vec<&EventView> = view.events.iter().collect();
    events_table(&mut body, "audit", "event", &all, now);
    page(&view.summary.id, now, &body)
}

#[cfg(test)]
#[path = "pages_tests.rs"]
mod tests;
