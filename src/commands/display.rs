//! How the day-2 commands show times, phases and verdicts. On a terminal: times relative to
//! `now` ("3h 05m ago", "in 20m"), and colours (unless `NO_COLOR` is set) with a symbol per
//! verdict and phase. Piped: RFC 3339 times and plain text, so scripts and logs can parse them.
//! `--json` always carries RFC 3339 (serde's timestamps), never a relative phrase.

use crate::domain::rollout::PhaseName;
use std::io::IsTerminal as _;

use crate::domain::Timestamp;
use crate::web::html::relative;

/// The output style of one command run.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Times are relative to this instant on a terminal.
    pub now: Timestamp,
    /// Stdout is a terminal: relative times, symbols.
    pub tty: bool,
    /// ANSI colours (a terminal without `NO_COLOR`).
    pub color: bool,
}

/// The ANSI colours the commands use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Color {
    /// Good news: promote-ready, completed.
    Green,
    /// Bad news: halt, rolled back, killed, drift.
    Red,
    /// A person should look: held, awaiting approval, inconclusive.
    Yellow,
    /// Moving: running, monitoring.
    Blue,
    /// Secondary text.
    Dim,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Red => "31",
            Color::Yellow => "33",
            Color::Blue => "34",
            Color::Dim => "2",
        }
    }
}

impl Style {
    /// The style for stdout as it is now: a terminal or not, `NO_COLOR` or not.
    pub fn detect(now: Timestamp) -> Style {
        let tty = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            now,
            tty,
            color: tty && !no_color,
        }
    }

    /// Plain output (pipes, files, tests): RFC 3339, no colour, no symbols.
    pub fn plain(now: Timestamp) -> Style {
        Style {
            now,
            tty: false,
            color: false,
        }
    }

    /// A point in time: relative on a terminal, RFC 3339 in UTC to the second otherwise
    /// (`2026-11-02T07:00:00Z`).
    pub fn time(&self, at: Timestamp) -> String {
        if self.tty {
            relative(at, self.now)
        } else {
            at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        }
    }

    /// `text` in `color` when colours are on.
    pub fn paint(&self, color: Color, text: &str) -> String {
        if self.color {
            format!("\x1b[{}m{text}\x1b[0m", color.code())
        } else {
            text.to_string()
        }
    }

    /// A gate verdict (`halt`, `promote_ready`, `inconclusive`): with its symbol and colour on a
    /// terminal, the bare name when piped.
    pub fn verdict(&self, verdict: &str) -> String {
        if !self.tty {
            return verdict.to_string();
        }
        let (symbol, color) = match verdict {
            "halt" => ("✖", Color::Red),
            "promote_ready" => ("✔", Color::Green),
            _ => ("…", Color::Yellow),
        };
        self.paint(color, &format!("{symbol} {verdict}"))
    }

    /// A phase name (`rolled_back`): with its symbol and colour on a terminal.
    pub fn phase(&self, phase: PhaseName) -> String {
        if !self.tty {
            return phase.to_string();
        }
        let (symbol, color) = phase_look(phase);
        self.paint(color, &format!("{symbol} {phase}"))
    }
}

/// The symbol and colour of a phase, as `kubectl argo rollouts` draws its statuses.
fn phase_look(phase: PhaseName) -> (&'static str, Color) {
    match phase {
        PhaseName::Completed => ("✔", Color::Green),
        PhaseName::RolledBack | PhaseName::Killed => ("✖", Color::Red),
        PhaseName::Held => ("‖", Color::Yellow),
        PhaseName::AwaitingApproval => ("?", Color::Yellow),
        PhaseName::Pending => ("○", Color::Dim),
        PhaseName::Running | PhaseName::Extended | PhaseName::Monitoring => ("◌", Color::Blue),
    }
}

/// Pads `text` to `width` visible characters (ANSI escapes take no room).
pub fn pad(text: &str, width: usize) -> String {
    let visible = visible_len(text);
    let mut out = text.to_string();
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(visible)));
    out
}

/// The number of characters a terminal shows for `text` (ANSI escapes excluded).
pub fn visible_len(text: &str) -> usize {
    let mut count = 0;
    let mut in_escape = false;
    for ch in text.chars() {
        if in_escape {
            in_escape = ch != 'm';
        } else if ch == '\x1b' {
            in_escape = true;
        } else {
            count += 1;
        }
    }
    count
}

/// Rows as aligned columns (two spaces apart), the header first.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (index, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(index) {
                *width = (*width).max(visible_len(cell));
            }
        }
    }
    let mut out = String::new();
    let header_row: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for row in std::iter::once(&header_row).chain(rows) {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (index, cell) in row.iter().enumerate() {
            if index == last {
                line.push_str(cell);
            } else {
                line.push_str(&pad(cell, widths.get(index).copied().unwrap_or(0)));
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone, Utc};

    #[test]
    fn a_terminal_gets_relative_times_and_symbols_a_pipe_gets_rfc3339_and_names() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let tty = Style {
            now,
            tty: true,
            color: true,
        };
        let plain = Style::plain(now);
        let at = now - Duration::hours(3);
        assert_eq!(tty.time(at), "3h 00m ago");
        assert_eq!(tty.time(now + Duration::minutes(20)), "in 20m");
        assert_eq!(plain.time(at), "2026-11-02T07:00:00Z");
        assert_eq!(tty.verdict("halt"), "\x1b[31m✖ halt\x1b[0m");
        assert_eq!(plain.verdict("halt"), "halt");
        assert_eq!(plain.phase(PhaseName::RolledBack), "rolled_back");
        assert!(tty.phase(PhaseName::Completed).contains("✔ completed"));
    }

    #[test]
    fn columns_align_on_what_the_terminal_shows() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 10, 0, 0).unwrap();
        let tty = Style {
            now,
            tty: true,
            color: true,
        };
        let rows = vec![
            vec![tty.phase(PhaseName::Held), "x".to_string()],
            vec!["completed".to_string(), "y".to_string()],
        ];
        let text = table(&["PHASE", "NOTE"], &rows);
        assert_eq!(text.lines().count(), 3);
        // "completed" is the widest cell: every second column starts after 9 + 2 characters.
        assert!(
            text.lines().skip(1).all(|line| visible_len(line) == 12),
            "{text}"
        );
    }
}
