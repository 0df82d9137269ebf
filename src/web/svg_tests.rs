//! Tests of the charts.

use super::*;
use chrono::{Duration, TimeZone, Utc};

fn t(minutes: i64) -> Timestamp {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

fn attr(svg: &str, class: &str, name: &str) -> String {
    let at = svg
        .find(&format!("class=\"{class}\""))
        .or_else(|| svg.find(&format!("class=\"chart {class}\"")))
        .expect(class);
    let rest = &svg[at..];
    let start = rest.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
    rest[start..start + rest[start..].find('"').unwrap()].to_string()
}

fn ys(path: &str) -> Vec<f64> {
    path.split(['M', 'L', ' '])
        .filter(|p| !p.is_empty() && *p != "Z")
        .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn series_have_one_path_per_arm_with_their_bands() {
    let arm = |name, value| ArmSeries {
        arm: name,
        points: (0..4)
            .map(|i| SeriesPoint {
                at: t(15 * i),
                value: Some(value),
                band: Some((value - 0.05, value + 0.05)),
            })
            .collect(),
    };
    let svg = series_chart(
        "pass_rate",
        true,
        &[arm("baseline", 0.9), arm("canary", 0.8)],
        &[],
    );
    assert!(svg.contains("data-metric=\"pass_rate\""));
    assert_eq!(attr(&svg, "series canary", "data-points"), "4");
    assert!(svg.contains("class=\"band baseline\""));
    let canary = ys(&attr(&svg, "series canary", "d"));
    let baseline = ys(&attr(&svg, "series baseline", "d"));
    assert!(
        canary[0] > baseline[0],
        "a lower rate sits lower (larger y)"
    );
    assert!(
        svg.contains("%</text>"),
        "rates are labelled as percentages: {svg}"
    );
}

#[test]
fn a_gap_in_a_series_breaks_the_line() {
    let points = [Some(0.5), None, Some(0.6)]
        .iter()
        .enumerate()
        .map(|(i, v)| SeriesPoint {
            at: t(15 * i as i64),
            value: *v,
            band: None,
        })
        .collect();
    let svg = series_chart(
        "error_rate",
        true,
        &[ArmSeries {
            arm: "canary",
            points,
        }],
        &[],
    );
    let d = attr(&svg, "series canary", "d");
    assert_eq!(d.matches('M').count(), 2, "{d}");
    assert!(!svg.contains("class=\"band"), "no band without intervals");
}

#[test]
fn the_e_value_is_on_a_log_scale_below_its_threshold_line() {
    let ln_threshold = 100_f64.ln();
    let points: Vec<EValuePoint> = [1.0_f64, 10.0, 1000.0]
        .iter()
        .enumerate()
        .map(|(i, e)| EValuePoint {
            at: t(15 * i as i64),
            ln_e_value: Some(e.ln()),
            ln_threshold: Some(ln_threshold),
            halted: *e >= 100.0,
        })
        .collect();
    let svg = e_value_chart("pass_rate", &points, &[t(15)]);
    assert_eq!(attr(&svg, "e-value-chart", "data-threshold"), "100.000000");
    let e = ys(&attr(&svg, "e-value", "d"));
    let threshold = ys(&attr(&svg, "threshold", "d"));
    // log scale: 1 → 10 and 10 → 1000 are one and two decades: equal steps per decade
    let decade = e[0] - e[1];
    assert!((e[1] - e[2] - 2.0 * decade).abs() < 0.2, "{e:?}");
    assert!(e[1] > threshold[1], "10 is below the 1/α = 100 line");
    assert!(e[2] < threshold[2], "1000 is above it");
    assert_eq!(svg.matches("class=\"halt-mark\"").count(), 1);
    assert_eq!(svg.matches("class=\"stage-mark\"").count(), 1);
    assert!(svg.contains(">100<") && svg.contains(">1<"), "{svg}");
}

#[test]
fn tiny_e_values_sit_on_the_floor_instead_of_stretching_the_axis() {
    let points = vec![EValuePoint {
        at: t(0),
        ln_e_value: Some(-500.0),
        ln_threshold: Some(5.0),
        halted: false,
    }];
    let svg = e_value_chart("m", &points, &[]);
    assert!(svg.contains(">1e-4<"), "{svg}");
    assert!(!svg.contains("1e-5"));
}

#[test]
fn nothing_to_draw_draws_nothing() {
    assert_eq!(series_chart("m", true, &[], &[]), "");
    assert_eq!(e_value_chart("m", &[], &[]), "");
    assert_eq!(timeline(&[]), "");
}

#[test]
fn the_timeline_has_a_segment_per_stage_with_escaped_labels() {
    let svg = timeline(&[
        Segment {
            from: t(0),
            to: t(240),
            label: "1%".into(),
            phase: "running".into(),
        },
        Segment {
            from: t(240),
            to: t(600),
            label: "<b>".into(),
            phase: "rolled_back".into(),
        },
    ]);
    assert_eq!(svg.matches("<rect class=\"segment").count(), 2);
    assert!(svg.contains("segment rolled_back"));
    assert!(svg.contains("&lt;b&gt;") && !svg.contains("<b>"));
}
