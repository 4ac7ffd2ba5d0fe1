//! Event time: durations as the spec writes them ("7d"), the spec's time zone, reading a time
//! cell into milliseconds since 1970-01-01 UTC, and the calendar features in that zone.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// 0 for Monday to 6 for Sunday.
    Weekday,
    /// 1 on Saturday and Sunday.
    Weekend,
    /// 0 to 23.
    Hour,
    /// 1 from `night_from` to `night_to` o'clock, both included.
    Night { from: u8, to: u8 },
}

/// A length of event time, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub struct Duration(i64);

impl Duration {
    pub const ZERO: Duration = Duration(0);

    pub fn from_ms(ms: i64) -> Duration {
        Duration(ms)
    }

    pub fn ms(self) -> i64 {
        self.0
    }

    /// "90s", "30m", "12h", "7d", "2w" or "500ms": a whole number and a unit.
    pub fn parse(text: &str) -> Result<Duration, String> {
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (n, unit) = t.split_at(split);
        let unit_ms: i64 = match unit.trim() {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            _ => return Err(format!("{text:?} is not a duration: a whole number and one of ms, s, m, h, d, w")),
        };
        let n: i64 = n.parse().map_err(|_| format!("{text:?} is not a duration: it needs a whole number first"))?;
        n.checked_mul(unit_ms).map(Duration).ok_or_else(|| format!("{text:?} is too long"))
    }
}

/// The zone of the event times: naive times are read in it, and the calendar features are
/// computed in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Zone {
    Fixed(FixedOffset),
    Named(chrono_tz::Tz),
}

impl TryFrom<String> for Zone {
    type Error = String;
    fn try_from(s: String) -> Result<Zone, String> {
        Zone::parse(&s)
    }
}

impl From<Zone> for String {
    fn from(z: Zone) -> String {
        match z {
            Zone::Fixed(o) if o.local_minus_utc() == 0 => "UTC".into(),
            Zone::Fixed(o) => o.to_string(),
            Zone::Named(tz) => tz.name().to_string(),
        }
    }
}

impl Zone {
    /// "UTC", a fixed offset ("+02:00") or an IANA name ("Europe/Brussels").
    pub fn parse(text: &str) -> Result<Zone, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("utc") || t == "Z" {
            return Ok(Zone::Fixed(Utc.fix()));
        }
        if let Ok(dt) = DateTime::parse_from_str(&format!("2000-01-01 00:00 {t}"), "%Y-%m-%d %H:%M %:z") {
            return Ok(Zone::Fixed(*dt.offset()));
        }
        t.parse::<chrono_tz::Tz>()
            .map(Zone::Named)
            .map_err(|_| format!("time zone {text:?} is neither UTC, an offset like +02:00 nor an IANA name"))
    }

    /// Milliseconds since the epoch of a wall-clock time in this zone (the earlier one when
    /// the clock is set back; the time after the gap when it jumps forward).
    fn instant_of_local(&self, local: NaiveDateTime) -> i64 {
        match self {
            Zone::Fixed(o) => {
                (local - chrono::Duration::seconds(i64::from(o.local_minus_utc()))).and_utc().timestamp_millis()
            }
            Zone::Named(tz) => match tz.from_local_datetime(&local).earliest() {
                Some(dt) => dt.timestamp_millis(),
                None => tz
                    .from_local_datetime(&(local + chrono::Duration::hours(1)))
                    .earliest()
                    .map_or_else(|| local.and_utc().timestamp_millis(), |dt| dt.timestamp_millis()),
            },
        }
    }

    /// The wall-clock time in this zone.
    pub fn local(&self, ms: i64) -> NaiveDateTime {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        match self {
            Zone::Fixed(o) => utc.with_timezone(o).naive_local(),
            Zone::Named(tz) => utc.with_timezone(tz).naive_local(),
        }
    }

    /// The calendar day of `ms` in this zone, as days since 1970-01-01.
    pub fn day(&self, ms: i64) -> i64 {
        i64::from(self.local(ms).date().num_days_from_ce()) - i64::from(EPOCH_DAYS_FROM_CE)
    }

    /// The start of a local calendar day (see [`Zone::day`]).
    pub fn day_start(&self, day: i64) -> i64 {
        let date =
            NaiveDate::from_num_days_from_ce_opt((day + i64::from(EPOCH_DAYS_FROM_CE)) as i32).unwrap_or_default();
        self.instant_of_local(date.and_hms_opt(0, 0, 0).unwrap_or_default())
    }

    pub fn calendar(&self, kind: Calendar, ms: i64) -> f64 {
        let local = self.local(ms);
        let weekday = local.weekday().num_days_from_monday();
        let hour = local.hour() as u8;
        match kind {
            Calendar::Weekday => f64::from(weekday),
            Calendar::Weekend => f64::from(u8::from(weekday >= 5)),
            Calendar::Hour => f64::from(hour),
            Calendar::Night { from, to } => {
                let night = if from <= to { (from..=to).contains(&hour) } else { hour >= from || hour <= to };
                f64::from(u8::from(night))
            }
        }
    }

    /// Reads a time cell: RFC 3339 with an offset, or a naive date and time
    /// (`YYYY-MM-DD HH:MM:SS[.fff]`, `T` allowed) in this zone, or a date alone (midnight).
    pub fn parse_time(&self, text: &str) -> Option<i64> {
        let t = text.trim();
        if let Some(naive) = fast_naive(t.as_bytes()) {
            return Some(self.instant_of_local(naive));
        }
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Some(dt.timestamp_millis());
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(t, format) {
                return Some(self.instant_of_local(naive));
            }
        }
        NaiveDate::parse_from_str(t, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|n| self.instant_of_local(n))
    }

    /// ISO 8601 text of an instant in this zone, with its offset: what score records carry.
    pub fn format(&self, ms: i64) -> String {
        let utc = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default();
        let fmt = "%Y-%m-%dT%H:%M:%S%.3f%:z";
        match self {
            Zone::Fixed(o) => utc.with_timezone(o).format(fmt).to_string(),
            Zone::Named(tz) => utc.with_timezone(tz).format(fmt).to_string(),
        }
    }
}

const EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// `YYYY-MM-DD HH:MM:SS` exactly (the handbook's and most exports' layout), without chrono's
/// format interpreter: the offline reader parses millions of them.
fn fast_naive(b: &[u8]) -> Option<NaiveDateTime> {
    if b.len() != 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !(b[10] == b' ' || b[10] == b'T')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let date = NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?;
    date.and_hms_opt(num(11..13)?, num(14..16)?, num(17..19)?)
}

/// A command line's `--from`/`--to`: a date, a naive date and time (both in the spec's zone,
/// known only once the model or spec is read), or an RFC 3339 instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bound {
    Local(NaiveDateTime),
    Instant(i64),
}

impl Bound {
    pub fn parse(text: &str) -> Result<Bound, String> {
        let t = text.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(t) {
            return Ok(Bound::Instant(dt.timestamp_millis()));
        }
        if let Some(n) = fast_naive(t.as_bytes()) {
            return Ok(Bound::Local(n));
        }
        if let Some(n) = NaiveDate::parse_from_str(t, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)) {
            return Ok(Bound::Local(n));
        }
        Err(format!("{text:?} is not a date (YYYY-MM-DD), a date and time (YYYY-MM-DD HH:MM:SS) or RFC 3339"))
    }

    /// Milliseconds since 1970-01-01 UTC.
    pub fn resolve(self, zone: &Zone) -> i64 {
        match self {
            Bound::Local(n) => zone.instant_of_local(n),
            Bound::Instant(ms) => ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(Duration::parse("7d").unwrap().ms(), 604_800_000);
        assert_eq!(Duration::parse("90s").unwrap().ms(), 90_000);
        assert_eq!(Duration::parse("2w").unwrap().ms(), 14 * 86_400_000);
        assert!(Duration::parse("7 days").is_err());
        assert!(Duration::parse("d").is_err());
    }

    #[test]
    fn naive_times_are_read_in_the_zone_and_calendar_features_follow_it() {
        let utc = Zone::parse("UTC").unwrap();
        let t = utc.parse_time("2018-04-01 00:00:31").unwrap();
        assert_eq!(t, 1_522_540_831_000);
        assert_eq!(utc.parse_time("2018-04-01T00:00:31Z"), Some(t));
        assert_eq!(utc.parse_time("2018-04-01T02:00:31+02:00"), Some(t));
        assert_eq!(utc.calendar(Calendar::Weekday, t), 6.0, "2018-04-01 was a Sunday");
        assert_eq!(utc.calendar(Calendar::Weekend, t), 1.0);
        assert_eq!(utc.calendar(Calendar::Night { from: 0, to: 6 }, t), 1.0);
        let brussels = Zone::parse("Europe/Brussels").unwrap();
        // 22:30 UTC on a Sunday in summer is 00:30 on Monday in Brussels.
        let late = utc.parse_time("2018-07-01 22:30:00").unwrap();
        assert_eq!(brussels.calendar(Calendar::Weekday, late), 0.0);
        assert_eq!(brussels.calendar(Calendar::Hour, late), 0.0);
        assert_eq!(brussels.parse_time("2018-07-02 00:30:00"), Some(late));
        assert_eq!(brussels.day_start(brussels.day(late)), brussels.parse_time("2018-07-02").unwrap());
        let plus2 = Zone::parse("+02:00").unwrap();
        assert_eq!(plus2.parse_time("2018-07-02 00:30:00"), Some(late));
        assert_eq!(String::from(plus2), "+02:00");
        assert!(Zone::parse("Mars/Olympus").is_err());
    }
}
