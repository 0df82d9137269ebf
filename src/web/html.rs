//! HTML building blocks of the web view: escaping (every piece of user data goes through
//! [`escape`]), the page shell with its stylesheet and its 15-second self-refresh, and time
//! phrases relative to `now` ("3h 05m ago", "in 12m"). Pure: the time comes in as an argument.

use std::fmt::Write as _;

use crate::domain::Timestamp;

/// How often a page reloads itself, in seconds (a `<meta http-equiv="refresh">`: no script).
pub const REFRESH_SECS: u32 = 15;

/// Escapes text for an HTML text node or a quoted attribute value.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Escapes a path segment for a link (`/rollouts/{id}`): anything but unreserved characters is
/// percent-encoded, so the result is also safe inside an attribute.
pub fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

const STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d232b;background:#f6f7f9}\
header{background:#1d232b;color:#fff;padding:10px 24px;display:flex;gap:24px;align-items:baseline}\
header a{color:#fff;text-decoration:none;font-weight:600}header .meta{color:#aab3bf;font-size:12px}\
main{padding:16px 24px;max-width:1280px}h1{font-size:20px;margin:8px 0 4px}h2{font-size:16px;margin:22px 0 8px}\
h3{font-size:14px;margin:0 0 6px}table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:8px}\
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e3e6ea;vertical-align:top}\
th{font-size:12px;color:#5b6572;font-weight:600;background:#eef0f3}td.num{text-align:right;font-variant-numeric:tabular-nums}\
.phase{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;background:#e3e6ea}\
.phase.running,.phase.monitoring,.phase.extended{background:#d8ebff;color:#0b4f8a}\
.phase.completed{background:#d5f2dc;color:#14622b}.phase.rolled_back,.phase.killed{background:#fbdada;color:#8a1111}\
.phase.held,.phase.awaiting_approval{background:#fff0c2;color:#7a5600}\
.verdict-halt{color:#8a1111;font-weight:600}.verdict-promote_ready{color:#14622b}.verdict-inconclusive{color:#5b6572}\
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:10px}\
.card{background:#fff;border:1px solid #e3e6ea;border-radius:6px;padding:10px 12px;margin-bottom:10px}\
.muted{color:#5b6572}.small{font-size:12px}.bad{color:#8a1111;font-weight:600}.good{color:#14622b}\
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}\
pre{white-space:pre-wrap;word-break:break-word;background:#f6f7f9;border:1px solid #e3e6ea;padding:6px 8px;margin:4px 0;font-size:12px}\
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}\
svg{background:#fff}svg text{font:11px system-ui,sans-serif;fill:#5b6572}\
svg .axis{stroke:#c4cad2;stroke-width:1}svg .grid-line{stroke:#eef0f3;stroke-width:1}\
svg .series{fill:none;stroke-width:1.6}svg .series.canary{stroke:#d9480f}svg .series.baseline{stroke:#1864ab}\
svg .band.canary{fill:#d9480f;fill-opacity:.14}svg .band.baseline{fill:#1864ab;fill-opacity:.14}\
svg .e-value{fill:none;stroke:#5f3dc4;stroke-width:1.6}svg .threshold{fill:none;stroke:#c92a2a;stroke-width:1.2;stroke-dasharray:6 3}\
svg .unity{stroke:#adb5bd;stroke-dasharray:2 3}svg .stage-mark{stroke:#868e96;stroke-dasharray:3 3}\
svg .halt-mark{fill:#c92a2a}svg .segment{stroke:#fff;stroke-width:1}\
svg .segment.running,svg .segment.monitoring,svg .segment.extended{fill:#a5d8ff}\
svg .segment.awaiting_approval,svg .segment.held{fill:#ffe066}svg .segment.completed{fill:#b2f2bb}\
svg .segment.rolled_back,svg .segment.killed{fill:#ffc9c9}svg .segment.pending{fill:#dee2e6}\
.legend span{margin-right:12px}.legend .canary{color:#d9480f}.legend .baseline{color:#1864ab}\
.legend .e-value{color:#5f3dc4}.legend .threshold{color:#c92a2a}";

/// A whole page: the shell (title, refresh, stylesheet, the header with `now`) around `body`,
/// which must already be escaped HTML.
pub fn page(title: &str, now: Timestamp, body: &str) -> String {
    let mut out = String::with_capacity(body.len() + STYLE.len() + 512);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        out,
        "<meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · evalgate</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
    let _ = write!(
        out,
        "<header><a href=\"/\">evalgate</a><span class=\"meta\">read-only view · as of {} UTC · \
         refreshes every {REFRESH_SECS} s</span></header><main>",
        now.format("%Y-%m-%d %H:%M:%S")
    );
    out.push_str(body);
    out.push_str("</main></body></html>\n");
    out
}

/// A span of seconds the way people read it: `40s`, `12m`, `3h 05m`, `2d 4h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.abs();
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m", s / 60)
    } else if s < 86_400 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}d {}h", s / 86_400, (s % 86_400) / 3600)
    }
}

/// `at` relative to `now`: `3h 05m ago`, `in 12m`, or `now`.
pub fn relative(at: Timestamp, now: Timestamp) -> String {
    let seconds = (at - now).num_seconds();
    if seconds == 0 {
        "now".to_string()
    } else if seconds > 0 {
        format!("in {}", span(seconds))
    } else {
        format!("{} ago", span(seconds))
    }
}

/// A `<time>` element: the relative phrase, the exact UTC time as its tooltip and datetime.
pub fn time(at: Timestamp, now: Timestamp) -> String {
    format!(
        "<time datetime=\"{}\" title=\"{} UTC\">{}</time>",
        at.to_rfc3339(),
        at.format("%Y-%m-%d %H:%M"),
        relative(at, now)
    )
}

/// A split in basis points as a percentage: `1%`, `0.5%`, `100%`.
pub fn percent(basis_points: u32) -> String {
    let value = f64::from(basis_points) / 100.0;
    if value.fract() == 0.0 {
        format!("{value:.0}%")
    } else {
        format!("{value}%")
    }
}

/// A phase badge (`<span class="phase rolled_back">rolled back</span>`).
pub fn phase_badge(phase: &str) -> String {
    let class: String = phase
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    format!(
        "<span class=\"phase {class}\">{}</span>",
        escape(&phase.replace('_', " "))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn markup_in_user_data_is_escaped() {
        assert_eq!(
            escape("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(path_segment("a b/<c>"), "a%20b%2F%3Cc%3E");
        assert_eq!(path_segment("support-v42"), "support-v42");
    }

    #[test]
    fn the_page_refreshes_itself_and_escapes_its_title() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let html = page("<b>x</b>", now, "<p>body</p>");
        assert!(html.contains("<meta http-equiv=\"refresh\" content=\"15\">"));
        assert!(html.contains("<title>&lt;b&gt;x&lt;/b&gt; · evalgate</title>"));
        assert!(html.contains("as of 2026-11-02 10:00:00 UTC"));
        assert!(html.contains("<p>body</p>"));
        assert!(!html.contains("<script"), "the view runs no script");
    }

    #[test]
    fn times_read_relative_to_now() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        assert_eq!(relative(now - Duration::minutes(185), now), "3h 05m ago");
        assert_eq!(relative(now + Duration::minutes(12), now), "in 12m");
        assert_eq!(relative(now - Duration::hours(52), now), "2d 4h ago");
        assert_eq!(relative(now, now), "now");
        assert_eq!(span(40), "40s");
        assert_eq!(percent(50), "0.5%");
        assert_eq!(percent(1000), "10%");
    }

    #[test]
    fn a_phase_badge_keeps_only_a_safe_class() {
        assert_eq!(
            phase_badge("rolled_back"),
            "<span class=\"phase rolled_back\">rolled back</span>"
        );
        assert!(!phase_badge("x\" onclick=\"y").contains("\" onclick"));
    }
}
