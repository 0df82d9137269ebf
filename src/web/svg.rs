//! The charts of the web view, drawn on the server as inline SVG from plain data: a metric's
//! canary and baseline series with their Wilson bands, the e-value on a log scale against its
//! 1/α line, and the stage timeline. Every element a test or a reader looks for carries a class
//! (`series canary`, `band baseline`, `e-value`, `threshold`, `halt-mark`, `segment`). Pure.

use std::fmt::Write as _;

use super::html::escape;
use crate::domain::Timestamp;

const WIDTH: f64 = 560.0;
const HEIGHT: f64 = 210.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 26.0;
/// The lowest decade the e-value chart shows: smaller e-values sit on its floor.
const LOG10_FLOOR: f64 = -4.0;

/// One window of one arm: the value and its interval, when defined.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// The window's start.
    pub at: Timestamp,
    /// The value (a rate, a mean, a quantile).
    pub value: Option<f64>,
    /// The Wilson interval (single-look, display only), for rates.
    pub band: Option<(f64, f64)>,
}

/// One arm's series (`arm` is `canary` or `baseline`, also the CSS class).
#[derive(Debug, Clone, PartialEq)]
pub struct ArmSeries {
    /// `canary` or `baseline`.
    pub arm: &'static str,
    /// Oldest first.
    pub points: Vec<SeriesPoint>,
}

/// One tick of a metric's halting test.
#[derive(Debug, Clone, PartialEq)]
pub struct EValuePoint {
    /// The tick's window start.
    pub at: Timestamp,
    /// ln of the e-value after the tick.
    pub ln_e_value: Option<f64>,
    /// ln(1/α) of the test at that tick.
    pub ln_threshold: Option<f64>,
    /// True when this tick's verdict was a halt.
    pub halted: bool,
}

/// One stretch of the stage timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// When it began.
    pub from: Timestamp,
    /// When it ended (or now).
    pub to: Timestamp,
    /// What it shows (`10%`).
    pub label: String,
    /// The phase name (the CSS class).
    pub phase: String,
}

#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn new(d0: f64, d1: f64, r0: f64, r1: f64) -> Scale {
        let d1 = if d1 > d0 { d1 } else { d0 + 1.0 };
        Scale { d0, d1, r0, r1 }
    }

    fn map(self, value: f64) -> f64 {
        self.r0 + (value - self.d0) / (self.d1 - self.d0) * (self.r1 - self.r0)
    }
}

fn secs(at: Timestamp) -> f64 {
    at.timestamp() as f64
}

fn x_scale(times: impl Iterator<Item = Timestamp>) -> Option<Scale> {
    let mut range: Option<(f64, f64)> = None;
    for at in times {
        let t = secs(at);
        range = Some(range.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
    }
    let (lo, hi) = range?;
    let hi = if hi > lo { hi } else { lo + 3600.0 };
    Some(Scale::new(lo, hi, LEFT, WIDTH - RIGHT))
}

/// `M x,y L x,y …`, starting a new run after every gap.
fn line_path(points: impl Iterator<Item = Option<(f64, f64)>>) -> String {
    let mut d = String::new();
    let mut pen_down = false;
    for point in points {
        match point {
            Some((x, y)) => {
                let _ = write!(d, "{}{x:.1},{y:.1} ", if pen_down { 'L' } else { 'M' });
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    d.trim_end().to_string()
}

/// Closed shapes between the high and low edges of each unbroken run of intervals.
fn band_path(points: &[Option<(f64, f64, f64)>]) -> String {
    let mut d = String::new();
    for run in points.split(Option::is_none) {
        let run: Vec<(f64, f64, f64)> = run.iter().flatten().copied().collect();
        if run.is_empty() {
            continue;
        }
        for (i, (x, high, _)) in run.iter().enumerate() {
            let _ = write!(d, "{}{x:.1},{high:.1} ", if i == 0 { 'M' } else { 'L' });
        }
        for (x, _, low) in run.iter().rev() {
            let _ = write!(d, "L{x:.1},{low:.1} ");
        }
        d.push_str("Z ");
    }
    d.trim_end().to_string()
}

fn open_svg(out: &mut String, class: &str, metric: &str, extra: &str, title: &str) {
    let _ = write!(
        out,
        "<svg class=\"chart {class}\" data-metric=\"{}\"{extra} viewBox=\"0 0 {WIDTH} {HEIGHT}\" \
         width=\"{WIDTH}\" height=\"{HEIGHT}\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>{}</title>",
        escape(metric),
        escape(title)
    );
}

fn y_grid(out: &mut String, scale: Scale, ticks: &[(f64, String)]) {
    for (value, label) in ticks {
        let y = scale.map(*value);
        let _ = write!(
            out,
            "<line class=\"grid-line\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 4.0,
            y + 4.0,
            escape(label)
        );
    }
}

fn x_axis(out: &mut String, x: Scale, stage_starts: &[Timestamp]) {
    let bottom = HEIGHT - BOTTOM;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{bottom}\" y2=\"{bottom}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{bottom}\"/>",
        WIDTH - RIGHT
    );
    for at in stage_starts {
        let px = x.map(secs(*at));
        if px > LEFT + 1.0 && px <= WIDTH - RIGHT {
            let _ = write!(
                out,
                "<line class=\"stage-mark\" x1=\"{px:.1}\" x2=\"{px:.1}\" y1=\"{TOP}\" y2=\"{bottom}\"/>"
            );
        }
    }
    for (value, anchor) in [(x.d0, "start"), (x.d1, "end")] {
        let label = chrono::DateTime::from_timestamp(value as i64, 0)
            .map(|at| at.format("%d %b %H:%M").to_string())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{label}</text>",
            x.map(value),
            HEIGHT - 8.0
        );
    }
}

/// The y range of a series chart: the data and bands, padded; rates stay inside [0, 1].
fn series_range(arms: &[ArmSeries], ratio: bool) -> (f64, f64) {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for point in arms.iter().flat_map(|arm| &arm.points) {
        let values = point
            .value
            .into_iter()
            .chain(point.band.map(|b| b.0))
            .chain(point.band.map(|b| b.1));
        for value in values.filter(|v| v.is_finite()) {
            lo = lo.min(value);
            hi = hi.max(value);
        }
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let min_span = if ratio {
        0.02
    } else {
        hi.abs().max(1e-9) * 0.1
    };
    let span = (hi - lo).max(min_span);
    let (mut lo, mut hi) = (lo - span * 0.08, hi + span * 0.08);
    if ratio {
        lo = lo.max(0.0);
        hi = hi.min(1.0);
    }
    (lo, hi)
}

fn number_label(value: f64, ratio: bool) -> String {
    if ratio {
        return format!("{:.1}%", value * 100.0);
    }
    let magnitude = value.abs();
    if magnitude >= 1000.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 0.1 || magnitude == 0.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.1e}")
    }
}

/// A metric's canary and baseline series (and their bands, where known). `ratio` scales the y
/// axis as a percentage inside [0, 1]. Empty string when there is nothing to draw.
pub fn series_chart(
    metric: &str,
    ratio: bool,
    arms: &[ArmSeries],
    stage_starts: &[Timestamp],
) -> String {
    let Some(x) = x_scale(arms.iter().flat_map(|a| a.points.iter().map(|p| p.at))) else {
        return String::new();
    };
    let (lo, hi) = series_range(arms, ratio);
    let y = Scale::new(lo, hi, HEIGHT - BOTTOM, TOP);
    let mut out = String::new();
    open_svg(
        &mut out,
        "series-chart",
        metric,
        "",
        &format!("{metric}: canary and baseline per window"),
    );
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            let value = y.d0 + (y.d1 - y.d0) * f64::from(i) / 4.0;
            (value, number_label(value, ratio))
        })
        .collect();
    y_grid(&mut out, y, &ticks);
    for arm in arms {
        let bands: Vec<Option<(f64, f64, f64)>> = arm
            .points
            .iter()
            .map(|p| {
                p.band
                    .map(|(low, high)| (x.map(secs(p.at)), y.map(high), y.map(low)))
            })
            .collect();
        if bands.iter().any(Option::is_some) {
            let _ = write!(
                out,
                "<path class=\"band {}\" d=\"{}\"/>",
                arm.arm,
                band_path(&bands)
            );
        }
    }
    for arm in arms {
        let d = line_path(arm.points.iter().map(|p| {
            p.value
                .filter(|v| v.is_finite())
                .map(|v| (x.map(secs(p.at)), y.map(v)))
        }));
        let _ = write!(
            out,
            "<path class=\"series {}\" data-points=\"{}\" d=\"{d}\"/>",
            arm.arm,
            arm.points.iter().filter(|p| p.value.is_some()).count()
        );
    }
    x_axis(&mut out, x, stage_starts);
    out.push_str("</svg>");
    out
}

fn decade_label(power: i32) -> String {
    match power {
        0 => "1".to_string(),
        1..=3 => format!("{}", 10_i64.pow(power.unsigned_abs())),
        -3..=-1 => format!("{}", 10_f64.powi(power)),
        _ => format!("1e{power}"),
    }
}

/// The e-value of a metric's halting test on a log scale, with its 1/α line (the test halts
/// when the e-value reaches it), the e = 1 line, stage starts and the ticks that halted.
pub fn e_value_chart(metric: &str, points: &[EValuePoint], stage_starts: &[Timestamp]) -> String {
    let Some(x) = x_scale(points.iter().map(|p| p.at)) else {
        return String::new();
    };
    let log10 = |ln: f64| (ln / std::f64::consts::LN_10).max(LOG10_FLOOR);
    let values = points
        .iter()
        .flat_map(|p| [p.ln_e_value, p.ln_threshold])
        .flatten()
        .filter(|v| v.is_finite())
        .map(log10);
    let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = (lo.floor().min(-1.0), hi.ceil().max(1.0) + 0.25);
    let y = Scale::new(lo, hi, HEIGHT - BOTTOM, TOP);
    let threshold = points.iter().rev().find_map(|p| p.ln_threshold);
    let extra = threshold.map_or_else(String::new, |ln| {
        format!(" data-threshold=\"{:.6}\"", ln.exp())
    });
    let mut out = String::new();
    let title = match threshold {
        Some(ln) => format!("{metric}: e-value against 1/α = {:.4}", ln.exp()),
        None => format!("{metric}: e-value"),
    };
    open_svg(&mut out, "e-value-chart", metric, &extra, &title);
    let step = ((hi - lo) / 6.0).ceil().max(1.0) as i32;
    let ticks: Vec<(f64, String)> = (lo as i32..=hi.floor() as i32)
        .filter(|power| power % step == 0)
        .map(|power| (f64::from(power), decade_label(power)))
        .collect();
    y_grid(&mut out, y, &ticks);
    let unity = y.map(0.0);
    let _ = write!(
        out,
        "<line class=\"unity\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{unity:.1}\" y2=\"{unity:.1}\"/>",
        WIDTH - RIGHT
    );
    let d = line_path(points.iter().map(|p| {
        p.ln_threshold
            .filter(|v| v.is_finite())
            .map(|ln| (x.map(secs(p.at)), y.map(log10(ln))))
    }));
    if !d.is_empty() {
        let _ = write!(out, "<path class=\"threshold\" d=\"{d}\"/>");
    }
    let d = line_path(points.iter().map(|p| {
        p.ln_e_value
            .filter(|v| v.is_finite())
            .map(|ln| (x.map(secs(p.at)), y.map(log10(ln))))
    }));
    let _ = write!(
        out,
        "<path class=\"e-value\" data-points=\"{}\" d=\"{d}\"/>",
        points.iter().filter(|p| p.ln_e_value.is_some()).count()
    );
    for point in points.iter().filter(|p| p.halted) {
        if let Some(ln) = point.ln_e_value.filter(|v| v.is_finite()) {
            let _ = write!(
                out,
                "<circle class=\"halt-mark\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"/>",
                x.map(secs(point.at)),
                y.map(log10(ln))
            );
        }
    }
    x_axis(&mut out, x, stage_starts);
    out.push_str("</svg>");
    out
}

/// The stage timeline: one coloured stretch per stage or phase, labelled with its split.
pub fn timeline(segments: &[Segment]) -> String {
    const H: f64 = 44.0;
    let Some(x) = x_scale(segments.iter().flat_map(|s| [s.from, s.to])) else {
        return String::new();
    };
    let x = Scale::new(x.d0, x.d1, 2.0, WIDTH * 2.0 - 2.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart timeline\" viewBox=\"0 0 {} {H}\" width=\"100%\" height=\"{H}\" \
         preserveAspectRatio=\"none\" role=\"img\" xmlns=\"http://www.w3.org/2000/svg\">\
         <title>stage timeline</title>",
        WIDTH * 2.0
    );
    for segment in segments {
        let start = x.map(secs(segment.from));
        // a stretch too short to see (a rollback at the end) still shows, inside the chart
        let width = (x.map(secs(segment.to)) - start).max(8.0);
        let x0 = start.min(WIDTH * 2.0 - 2.0 - width);
        let class: String = segment
            .phase
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let _ = write!(
            out,
            "<rect class=\"segment {class}\" x=\"{x0:.1}\" y=\"4\" width=\"{width:.1}\" height=\"22\">\
             <title>{}</title></rect>",
            escape(&format!(
                "{} {} from {}",
                segment.label,
                segment.phase.replace('_', " "),
                segment.from.format("%d %b %H:%M")
            ))
        );
        if width > 40.0 {
            let _ = write!(
                out,
                "<text x=\"{:.1}\" y=\"40\">{}</text>",
                x0 + 3.0,
                escape(&segment.label)
            );
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
#[path = "svg_tests.rs"]
mod tests;
