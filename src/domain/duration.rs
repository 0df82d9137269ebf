//! Human durations in config and flags: `90s`, `15m`, `4h`, `2d`, `1w`, or combinations
//! like `1h30m`, at most [`HumanDuration::MAX`] (so adding one to a timestamp can never
//! overflow chrono's range: `30000000w` used to pass and then panic a tick).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A non-negative span of time written the way people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration {
    seconds: i64,
}

impl HumanDuration {
    /// The longest duration accepted: 100 years of 365 days (5214 weeks and change).
    pub const MAX: HumanDuration = HumanDuration {
        seconds: 100 * 365 * 86_400,
    };

    /// A duration of `seconds`.
    pub const fn from_secs(seconds: i64) -> HumanDuration {
        HumanDuration { seconds }
    }

    /// A duration of `minutes`.
    pub const fn from_mins(minutes: i64) -> HumanDuration {
        HumanDuration {
            seconds: minutes * 60,
        }
    }

    /// A duration of `hours`.
    pub const fn from_hours(hours: i64) -> HumanDuration {
        HumanDuration {
            seconds: hours * 3600,
        }
    }

    /// Whole seconds.
    pub fn as_secs(self) -> i64 {
        self.seconds
    }

    /// As a chrono duration.
    pub fn to_chrono(self) -> chrono::Duration {
        chrono::Duration::seconds(self.seconds)
    }

    /// As a std duration.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.seconds.max(0).unsigned_abs())
    }

    /// Parses `90s`, `15m`, `4h`, `2d`, `1w`, `1h30m`; a bare number is seconds.
    pub fn parse(text: &str) -> Result<HumanDuration, String> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err("empty duration".to_string());
        }
        if let Ok(seconds) = trimmed.parse::<i64>() {
            if seconds < 0 {
                return Err(format!("negative duration `{trimmed}`"));
            }
            return HumanDuration { seconds }.bounded(trimmed);
        }
        if trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
            return HumanDuration { seconds: i64::MAX }.bounded(trimmed);
        }
        let mut total: i64 = 0;
        let mut number = String::new();
        for ch in trimmed.chars() {
            if ch.is_ascii_digit() {
                number.push(ch);
                continue;
            }
            let unit_seconds = match ch {
                's' => 1,
                'm' => 60,
                'h' => 3600,
                'd' => 86_400,
                'w' => 604_800,
                _ => {
                    return Err(format!(
                        "bad duration `{trimmed}`: unknown unit `{ch}` (use s, m, h, d or w)"
                    ));
                }
            };
            if number.is_empty() {
                return Err(format!(
                    "bad duration `{trimmed}`: a number must come before `{ch}`"
                ));
            }
            // Digits beyond i64 are far past MAX too: saturate and let `bounded` say so.
            let value: i64 = number.parse().unwrap_or(i64::MAX);
            total = total.saturating_add(value.saturating_mul(unit_seconds));
            number.clear();
        }
        if !number.is_empty() {
            return Err(format!("bad duration `{trimmed}`: `{number}` has no unit"));
        }
        HumanDuration { seconds: total }.bounded(trimmed)
    }

    fn bounded(self, text: &str) -> Result<HumanDuration, String> {
        if self > HumanDuration::MAX {
            return Err(format!(
                "duration `{text}` is too long: at most {} (100 years)",
                HumanDuration::MAX
            ));
        }
        Ok(self)
    }
}

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut rest = self.seconds;
        if rest == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
            if rest >= size {
                write!(f, "{}{unit}", rest / size)?;
                rest %= size;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        HumanDuration::parse(text)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HumanDuration::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(HumanDuration::parse("15m").unwrap().as_secs(), 900);
        assert_eq!(HumanDuration::parse("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(HumanDuration::parse("2d").unwrap().as_secs(), 172_800);
        assert_eq!(HumanDuration::parse("45").unwrap().as_secs(), 45);
        assert_eq!(HumanDuration::parse("1h30m").unwrap().to_string(), "1h30m");
    }

    #[test]
    fn rejects_unknown_units_and_dangling_numbers() {
        assert!(
            HumanDuration::parse("5x")
                .unwrap_err()
                .contains("unknown unit")
        );
        assert!(HumanDuration::parse("1h5").unwrap_err().contains("no unit"));
        assert!(HumanDuration::parse("").is_err());
    }

    #[test]
    fn durations_past_a_hundred_years_are_rejected_not_saturated() {
        for text in [
            "99999999999999999w",
            "30000000w",
            "5215w",
            "99999999999999999999",
        ] {
            let err = HumanDuration::parse(text).unwrap_err();
            assert!(err.contains("too long"), "{text}: {err}");
        }
        assert_eq!(HumanDuration::parse("36500d").unwrap(), HumanDuration::MAX);
        let at_max = chrono::DateTime::<chrono::Utc>::MAX_UTC - chrono::Duration::days(400 * 365);
        assert!(
            at_max
                .checked_add_signed(HumanDuration::MAX.to_chrono())
                .is_some()
        );
    }
}
