//! `[schedule]`: the daemon's cron schedules (ticks and rollback drills), how many missed tick
//! windows a restarted daemon catches up, how long shutdown may take, and how much scoring work a
//! replica claims at a time.

use serde::{Deserialize, Serialize};

use super::Invalid;

use crate::domain::HumanDuration;
use crate::logic::schedule::Schedule;

/// The `[schedule]` section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleConfig {
    /// When ticks run: a five-field cron expression in UTC (default every 15 minutes).
    pub ticks: String,
    /// When rollback drills run (default 03:00 UTC on the first of each month).
    pub drills: String,
    /// At most this many missed tick windows are caught up after downtime, oldest first; older
    /// ones are skipped with a warning.
    pub catch_up_max: u32,
    /// How long SIGTERM/SIGINT may take to stop the daemon (HTTP drain and the running tick).
    pub shutdown_deadline: HumanDuration,
    /// Scoring-queue items a replica claims at a time. Smaller spreads a tick's judge work over
    /// more replicas; larger means fewer queue round trips.
    pub claim_batch: u32,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            ticks: "*/15 * * * *".to_string(),
            drills: "0 3 1 * *".to_string(),
            catch_up_max: 8,
            shutdown_deadline: HumanDuration::from_secs(30),
            claim_batch: 32,
        }
    }
}

/// The `[schedule]` crons, parsed once when the config is validated ([`ScheduleConfig::validate`])
/// and handed to the scheduler from there.
#[derive(Debug, Clone)]
pub struct Schedules {
    /// When ticks run.
    pub ticks: Schedule,
    /// When rollback drills run.
    pub drills: Schedule,
}

impl ScheduleConfig {
    /// Checks that both schedules parse and fire, and that the bounds are sane; returns the parsed
    /// schedules (the only place the crons are parsed).
    pub fn validate(&self) -> Result<Schedules, Invalid> {
        let ticks =
            Schedule::parse(&self.ticks).map_err(|msg| Invalid::new("schedule.ticks", msg))?;
        let drills =
            Schedule::parse(&self.drills).map_err(|msg| Invalid::new("schedule.drills", msg))?;
        check_fires(&ticks).map_err(|msg| Invalid::new("schedule.ticks", msg))?;
        check_fires(&drills).map_err(|msg| Invalid::new("schedule.drills", msg))?;
        if self.catch_up_max == 0 {
            return Err(Invalid::new(
                "schedule.catch_up_max",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if self.claim_batch == 0 {
            return Err(Invalid::new(
                "schedule.claim_batch",
                "is 0; allowed: at least 1".to_string(),
            ));
        }
        if self.shutdown_deadline.as_secs() < 1 {
            return Err(Invalid::new(
                "schedule.shutdown_deadline",
                format!("is {}; allowed: at least 1s", self.shutdown_deadline),
            ));
        }
        Ok(Schedules { ticks, drills })
    }
}

/// A schedule that never fires (`0 0 30 2 *`: February 30th) is an error, not a silent daemon:
/// it must fire within [`FIRES_WITHIN_YEARS`] of a fixed probe time (a leap day fires within 4).
fn check_fires(schedule: &Schedule) -> Result<(), String> {
    let probe = chrono::DateTime::parse_from_rfc3339("2026-01-05T00:00:00Z")
        .map(|at| at.with_timezone(&chrono::Utc))
        .map_err(|err| err.to_string())?;
    let horizon = chrono::TimeDelta::days(FIRES_WITHIN_YEARS * 366);
    match schedule.next_after(probe) {
        Some(at) if at <= probe + horizon => Ok(()),
        _ => Err(format!(
            "`{}` never fires (no time matches it within {FIRES_WITHIN_YEARS} years), e.g. a day \
             the month does not have; e.g. `*/15 * * * *`",
            schedule.as_str()
        )),
    }
}

/// How far ahead [`check_fires`] looks.
const FIRES_WITHIN_YEARS: i64 = 5;

#[cfg(test)]
mod tests {
    use crate::config::Config;

    #[test]
    fn a_bad_tick_cron_names_the_key_and_an_example() {
        let err = Config::from_toml_str("evalgate.toml", "[schedule]\nticks = \"every 15m\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("schedule.ticks"), "{err}");
        assert!(err.contains("*/15 * * * *"), "{err}");
    }

    #[test]
    fn defaults_are_every_fifteen_minutes_and_monthly_drills() {
        let config = Config::from_toml_str("t", "").unwrap();
        assert_eq!(config.schedule.ticks, "*/15 * * * *");
        assert_eq!(config.schedule.drills, "0 3 1 * *");
        assert!(config.schedule.catch_up_max >= 1);
    }

    #[test]
    fn ticks_closer_than_the_window_or_off_its_boundaries_are_rejected() {
        let overlap = Config::from_toml_str("t", "[schedule]\nticks = \"*/5 * * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(overlap.contains("schedule.ticks"), "{overlap}");
        assert!(overlap.contains("5 min apart"), "{overlap}");
        assert!(overlap.contains("overlap"), "{overlap}");
        let shifted = Config::from_toml_str("t", "[schedule]\nticks = \"5,20,35,50 * * * *\"\n")
            .unwrap_err()
            .to_string();
        assert!(shifted.contains("not a multiple"), "{shifted}");
        // Matching cadences, and sparser aligned ticks, are fine.
        Config::from_toml_str(
            "t",
            "[schedule]\nticks = \"*/5 * * * *\"\n[sampling]\nwindow = \"5m\"\n",
        )
        .unwrap();
        Config::from_toml_str("t", "[schedule]\nticks = \"0 * * * *\"\n").unwrap();
    }

    #[test]
    fn a_cron_that_never_fires_is_rejected_naming_the_key() {
        let ticks = Config::from_toml_str("t", "[schedule]\nticks = \"0 0 30 2 *\"\n")
            .unwrap_err()
            .to_string();
        assert!(ticks.contains("schedule.ticks"), "{ticks}");
        assert!(ticks.contains("never fires"), "{ticks}");
        let drills = Config::from_toml_str("t", "[schedule]\ndrills = \"0 3 31 4 *\"\n")
            .unwrap_err()
            .to_string();
        assert!(drills.contains("schedule.drills"), "{drills}");
        // A leap day fires, just rarely.
        Config::from_toml_str("t", "[schedule]\ndrills = \"0 3 29 2 *\"\n").unwrap();
    }

    #[test]
    fn a_validated_config_carries_the_parsed_crons_and_an_unvalidated_one_says_so() {
        let config = Config::from_toml_str(
            "t",
            "[schedule]\nticks = \"*/30 * * * *\"\ndrills = \"0 4 2 * *\"\n[sampling]\nwindow = \"30m\"\n",
        )
        .unwrap();
        let schedules = config.schedules().unwrap();
        assert_eq!(schedules.ticks.as_str(), "*/30 * * * *");
        assert_eq!(schedules.drills.as_str(), "0 4 2 * *");
        // A `--store` override re-validates; the crons come along.
        let revalidated = config.clone().validated("--store").unwrap();
        assert_eq!(
            revalidated.schedules().unwrap().ticks.as_str(),
            "*/30 * * * *"
        );
        let err = Config::default().schedules().unwrap_err().to_string();
        assert!(err.contains("never validated"), "{err}");
    }

    #[test]
    fn zero_catch_up_is_rejected() {
        let err = Config::from_toml_str("t", "[schedule]\ncatch_up_max = 0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("schedule.catch_up_max"), "{err}");
    }
}
