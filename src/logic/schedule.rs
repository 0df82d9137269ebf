//! Cron schedules and which tick times are due: pure functions of the last completed time and
//! `now`. The daemon's loop (`commands::serve`) only sleeps and calls these.

use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds};

use crate::domain::Timestamp;

/// A parsed cron expression (POSIX weekdays: 1 = Monday), evaluated in UTC: five fields, or six
/// with a leading seconds field for accelerated schedules (tests, drills of the whole loop).
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

/// Which tick times to run now, oldest first, and what was skipped to honour the bound.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DuePlan {
    /// Tick times to run, oldest first.
    pub due: Vec<Timestamp>,
    /// Missed tick times dropped because more than `catch_up_max` were due.
    pub skipped: usize,
}

impl Schedule {
    /// Parses a five-field cron expression, or a six-field one whose first field is seconds;
    /// the error says what is wrong and what is allowed.
    pub fn parse(text: &str) -> Result<Schedule, String> {
        let fields = text.split_whitespace().count();
        let nickname = text.trim_start().starts_with('@');
        if fields != 5 && fields != 6 && !nickname {
            return Err(format!(
                "`{text}` has {fields} fields; expected 5 (minute hour day-of-month month day-of-week), e.g. `*/15 * * * *`, or 6 with seconds first, e.g. `*/10 * * * * *`"
            ));
        }
        let seconds = match fields {
            6 => Seconds::Required,
            _ => Seconds::Disallowed,
        };
        let parsed = match nickname {
            true => Cron::from_str(text),
            false => CronParser::builder().seconds(seconds).build().parse(text),
        };
        let cron =
            parsed.map_err(|err| format!("`{text}` is not a valid cron expression: {err}"))?;
        Ok(Schedule {
            text: text.to_string(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A human description, e.g. "At every 15th minute."
    pub fn describe(&self) -> String {
        self.cron.describe()
    }

    /// The first fire time strictly after `after`.
    pub fn next_after(&self, after: Timestamp) -> Option<Timestamp> {
        self.cron.find_next_occurrence(&after, false).ok()
    }

    /// The shortest gap between two consecutive fire times in `[from, from + horizon]` (None
    /// when it fires at most once there). Ticks closer together than the sampling window would
    /// read overlapping windows and feed the same requests to the gates more than once.
    pub fn min_gap(
        &self,
        from: Timestamp,
        horizon: chrono::TimeDelta,
    ) -> Option<chrono::TimeDelta> {
        let end = from + horizon;
        let mut previous = self.next_after(from)?;
        let mut shortest: Option<chrono::TimeDelta> = None;
        while let Some(next) = self.next_after(previous) {
            if next > end {
                break;
            }
            let gap = next - previous;
            shortest = Some(shortest.map_or(gap, |current| current.min(gap)));
            previous = next;
        }
        shortest
    }

    /// The first fire time in `[from, from + horizon]` that is not a multiple of `every` since
    /// the Unix epoch, if any.
    pub fn first_unaligned(
        &self,
        from: Timestamp,
        horizon: chrono::TimeDelta,
        every: chrono::TimeDelta,
    ) -> Option<Timestamp> {
        let step = every.num_seconds().max(1);
        let end = from + horizon;
        let mut at = self.next_after(from)?;
        while at <= end {
            if at.timestamp().rem_euclid(step) != 0 {
                return Some(at);
            }
            at = self.next_after(at)?;
        }
        None
    }

    /// The last fire time at or before `at`.
    pub fn latest_at_or_before(&self, at: Timestamp) -> Option<Timestamp> {
        self.cron.find_previous_occurrence(&at, true).ok()
    }

    /// Fire times in `(last, now]`, oldest first, keeping only the newest `catch_up_max` (the
    /// rest are counted as skipped). With no `last` (a fresh store), only the newest fire time at
    /// or before `now` is due: the daemon does not replay history it never saw.
    pub fn due(&self, last_opt: Option<Timestamp>, now: Timestamp, catch_up_max: usize) -> DuePlan {
        let Some(newest) = self.latest_at_or_before(now) else {
            return DuePlan::default();
        };
        let Some(last) = last_opt else {
            return DuePlan {
                due: vec![newest],
                skipped: 0,
            };
        };
        if newest <= last {
            return DuePlan::default();
        }
        // Walk backwards from the newest so a daemon that was down for months does only
        // `catch_up_max` steps of work, then count what remains without materialising it.
        let mut due = Vec::new();
        let mut cursor = newest;
        while cursor > last && due.len() < catch_up_max.max(1) {
            due.push(cursor);
            match self.cron.find_previous_occurrence(&cursor, false) {
                Ok(previous) => cursor = previous,
                Err(_) => break,
            }
        }
        due.reverse();
        let skipped = match due.first() {
            Some(oldest) => self.count_between(last, *oldest),
            None => 0,
        };
        DuePlan { due, skipped }
    }

    /// Fire times strictly between `after` and `before`, counted (bounded at one million).
    fn count_between(&self, after: Timestamp, before: Timestamp) -> usize {
        let mut count = 0;
        let mut cursor = after;
        while let Ok(next) = self.cron.find_next_occurrence(&cursor, false) {
            if next >= before || count >= 1_000_000 {
                break;
            }
            count += 1;
            cursor = next;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn t(h: u32, m: u32) -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2026, 11, 26, h, m, 0).unwrap()
    }

    #[test]
    fn a_six_field_expression_ticks_on_seconds() {
        let schedule = Schedule::parse("*/10 * * * * *").unwrap();
        let at = t(12, 7) + chrono::Duration::seconds(3);
        assert_eq!(
            schedule.next_after(at),
            Some(t(12, 7) + chrono::Duration::seconds(10))
        );
        let err = Schedule::parse("* * * *").unwrap_err();
        assert!(err.contains("6 with seconds first"), "{err}");
        assert!(Schedule::parse("*/15 * * * *").unwrap().next_after(at) == Some(t(12, 15)));
    }

    #[test]
    fn every_fifteen_minutes_parses_and_steps_to_the_next_quarter() {
        let schedule = Schedule::parse("*/15 * * * *").unwrap();
        assert_eq!(schedule.next_after(t(12, 7)), Some(t(12, 15)));
        assert_eq!(schedule.next_after(t(12, 15)), Some(t(12, 30)));
    }

    #[test]
    fn a_bad_expression_is_rejected_with_the_reason() {
        let err = Schedule::parse("*/15 * * *").unwrap_err();
        assert!(err.contains("expected 5"), "{err}");
        let err = Schedule::parse("61 * * * *").unwrap_err();
        assert!(err.contains("not a valid cron expression"), "{err}");
    }

    #[test]
    fn missed_windows_are_due_oldest_first() {
        let schedule = Schedule::parse("*/15 * * * *").unwrap();
        let plan = schedule.due(Some(t(12, 0)), t(12, 50), 10);
        assert_eq!(plan.due, vec![t(12, 15), t(12, 30), t(12, 45)]);
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn catch_up_is_bounded_and_keeps_the_newest_windows() {
        let schedule = Schedule::parse("*/15 * * * *").unwrap();
        let plan = schedule.due(Some(t(10, 0)), t(12, 50), 2);
        assert_eq!(plan.due, vec![t(12, 30), t(12, 45)]);
        // 10:15 .. 12:15 inclusive = 9 windows skipped.
        assert_eq!(plan.skipped, 9);
    }

    #[test]
    fn nothing_is_due_before_the_next_fire_time() {
        let schedule = Schedule::parse("*/15 * * * *").unwrap();
        assert!(schedule.due(Some(t(12, 15)), t(12, 29), 5).due.is_empty());
    }

    #[test]
    fn a_fresh_store_runs_only_the_newest_fire_time() {
        let schedule = Schedule::parse("*/15 * * * *").unwrap();
        let plan = schedule.due(None, t(12, 29), 5);
        assert_eq!(plan.due, vec![t(12, 15)]);
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn weekdays_are_posix_numbered() {
        // 2026-11-22 is a Sunday; `1` must mean Monday the 23rd.
        let schedule = Schedule::parse("0 0 * * 1").unwrap();
        let sunday = chrono::Utc.with_ymd_and_hms(2026, 11, 22, 0, 0, 0).unwrap();
        let monday = chrono::Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        assert_eq!(schedule.next_after(sunday), Some(monday));
    }

    proptest! {
        #[test]
        fn due_times_are_increasing_bounded_and_inside_the_range(
            last_min in 0u32..600, gap in 0u32..600, bound in 1usize..6,
        ) {
            let schedule = Schedule::parse("*/15 * * * *").unwrap();
            let last = t(0, 0) + chrono::Duration::minutes(i64::from(last_min));
            let now = last + chrono::Duration::minutes(i64::from(gap));
            let plan = schedule.due(Some(last), now, bound);
            prop_assert!(plan.due.len() <= bound);
            prop_assert!(plan.due.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(plan.due.iter().all(|at| *at > last && *at <= now));
            let fire_times = (last_min + gap) / 15 - last_min / 15;
            prop_assert_eq!(plan.due.len() + plan.skipped, usize::try_from(fire_times).unwrap());
        }
    }
}
