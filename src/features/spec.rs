//! The feature spec: one TOML file that says which columns are the event's time, id, label and
//! entities, when a label becomes known, and how each model feature is computed from the event
//! and from its entities' history. It is read and checked here once ([`Spec::parse`]); the rest
//! of the code sees only the checked [`Spec`]. A model trained with a spec keeps it in its
//! model.json, so the stream computes exactly what training computed.
//!
//! The format and the window bounds are documented in docs/features.md.

use serde::{Deserialize, Serialize};

pub use super::clock::Calendar;
use super::clock::{Duration, Zone};

/// A checked feature spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "SpecFile", into = "SpecFile")]
pub struct Spec {
    file: SpecFile,
    /// The event time's zone, for the calendar features and naive times.
    pub zone: Zone,
    /// How long after its event a label is known.
    pub delay: Duration,
    pub features: Vec<Feature>,
    /// The numeric columns the features read: raw features and aggregated values.
    pub numbers: Vec<String>,
    /// The text columns counted by `distinct` aggregates.
    pub texts: Vec<String>,
    /// Per entity, the longest window of its aggregates over its events (0 for none), and of
    /// those over its labels (delay not included).
    pub horizon: Vec<Duration>,
    pub label_horizon: Vec<Duration>,
}

/// What a model feature is.
#[derive(Debug, Clone, PartialEq)]
pub enum Feature {
    /// A numeric column of the event, as it is.
    Raw {
        column: usize,
    },
    Calendar(Calendar),
    /// An aggregate over one entity's events in a window ending at the event.
    Window {
        entity: usize,
        window: Duration,
        current: bool,
        aggregate: Aggregate,
    },
    /// An aggregate over one entity's labelled events in a window ending the label delay
    /// before the event: (t - (delay + window), t - delay], labels known by t.
    Labels {
        entity: usize,
        window: Duration,
        aggregate: LabelAggregate,
    },
}

/// An aggregate over events; `column` indexes [`Spec::numbers`], `text` [`Spec::texts`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Aggregate {
    Count,
    Sum {
        column: usize,
    },
    Mean {
        column: usize,
    },
    Min {
        column: usize,
    },
    Max {
        column: usize,
    },
    /// The sample standard deviation (n - 1), as pandas' rolling std.
    Std {
        column: usize,
    },
    Distinct {
        text: usize,
    },
    /// Seconds since the entity's previous event in the window.
    SincePrevious,
    /// The event's value over the window's mean.
    RatioToMean {
        column: usize,
    },
    /// (value - window mean) / window standard deviation.
    ZScore {
        column: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelAggregate {
    /// Labelled events in the window.
    Count,
    /// Frauds in the window.
    Frauds,
    /// Frauds over labelled events; 0 when there are none.
    Rate,
}

/// The most entities a spec may name (a card, a terminal, a merchant, a device, ...).
pub const MAX_ENTITIES: usize = 8;
/// The most distinct label windows one entity may have.
pub const MAX_LABEL_WINDOWS: usize = 16;

/// Why a spec cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read the feature spec {path}: {source}")]
    Open { path: std::path::PathBuf, source: std::io::Error },
    #[error("{path}: {source}")]
    Toml { path: String, source: Box<toml::de::Error> },
    #[error("{0}")]
    Invalid(String),
}

/// The file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFile {
    columns: ColumnsFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    labels: Option<LabelsFile>,
    #[serde(rename = "features")]
    features: Vec<FeatureFile>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColumnsFile {
    time: String,
    /// An IANA zone name ("Europe/Brussels") or a fixed offset ("+02:00"); UTC by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_zone: Option<String>,
    /// For a numeric time column: "s" (default) or "ms" since 1970-01-01 UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    label: String,
    #[serde(default)]
    entities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelsFile {
    /// How long after its event a label is known, e.g. "7d".
    delay: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureFile {
    name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    raw: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    calendar: Option<String>,
    /// For `calendar = "night"`: the first and last hour of the night, both included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hours: Option<[u8; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    entity: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    window: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    aggregate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    of: Option<String>,
    /// Whether the current event is in its own window (default true, as the handbook's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    current: Option<bool>,
}

impl Spec {
    /// Reads and checks a spec file.
    pub fn read(path: &std::path::Path) -> Result<Spec, SpecError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| SpecError::Open { path: path.to_path_buf(), source })?;
        Spec::parse(&text, &path.display().to_string())
    }

    /// Parses and checks a spec; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Spec, SpecError> {
        let file: SpecFile = toml::from_str(text)
            .map_err(|source| SpecError::Toml { path: origin.to_string(), source: Box::new(source) })?;
        Spec::try_from(file).map_err(|e| SpecError::Invalid(format!("{origin}: {e}")))
    }

    pub fn time_column(&self) -> &str {
        &self.file.columns.time
    }

    pub fn time_unit_ms(&self) -> i64 {
        if self.file.columns.time_unit.as_deref() == Some("ms") { 1 } else { 1000 }
    }

    /// A time cell of a file: seconds (or `time_unit` ms) since 1970 when it is a number,
    /// else a date and time read in the spec's zone ([`Zone::parse_time`]).
    pub fn time_of_cell(&self, cell: &[u8]) -> Option<i64> {
        match crate::decimal::parse_cell(cell) {
            Ok(v) => Some((v * self.time_unit_ms() as f64).round() as i64),
            Err(_) => std::str::from_utf8(cell).ok().and_then(|t| self.zone.parse_time(t)),
        }
    }

    pub fn id_column(&self) -> Option<&str> {
        self.file.columns.id.as_deref()
    }

    pub fn label_column(&self) -> &str {
        &self.file.columns.label
    }

    pub fn entities(&self) -> &[String] {
        &self.file.columns.entities
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.file.features.iter().map(|f| f.name.as_str())
    }

    pub fn width(&self) -> usize {
        self.features.len()
    }

    /// Whether any feature reads labels.
    pub fn uses_labels(&self) -> bool {
        self.features.iter().any(|f| matches!(f, Feature::Labels { .. }))
    }

    /// The entities whose own events are aggregated (not only their labels).
    pub fn event_entities(&self) -> Vec<usize> {
        (0..self.entities().len()).filter(|&e| self.horizon[e].ms() > 0).collect()
    }

    /// The entities whose labels are aggregated.
    pub fn label_entities(&self) -> Vec<usize> {
        (0..self.entities().len()).filter(|&e| self.label_horizon[e].ms() > 0).collect()
    }
}

impl From<Spec> for SpecFile {
    fn from(spec: Spec) -> SpecFile {
        spec.file
    }
}

impl TryFrom<SpecFile> for Spec {
    type Error = String;

    fn try_from(file: SpecFile) -> Result<Spec, String> {
        let c = &file.columns;
        let zone = Zone::parse(c.time_zone.as_deref().unwrap_or("UTC"))?;
        match c.time_unit.as_deref() {
            None | Some("s") | Some("ms") => {}
            Some(other) => return Err(format!("columns.time_unit is {other:?}; it must be \"s\" or \"ms\"")),
        }
        for (what, name) in [("time", Some(&c.time)), ("label", Some(&c.label)), ("id", c.id.as_ref())] {
            if name.is_some_and(|n| n.trim().is_empty()) {
                return Err(format!("columns.{what} must name a column"));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for e in &c.entities {
            if e.trim().is_empty() || !seen.insert(e.as_str()) {
                return Err(format!("columns.entities: {e:?} is empty or named twice"));
            }
        }
        let delay = match &file.labels {
            Some(l) => Duration::parse(&l.delay).map_err(|e| format!("labels.delay: {e}"))?,
            None => Duration::ZERO,
        };
        if file.features.is_empty() {
            return Err("the spec has no [[features]]".into());
        }
        let mut names = std::collections::HashSet::new();
        let mut numbers: Vec<String> = Vec::new();
        let mut texts: Vec<String> = Vec::new();
        let mut horizon = vec![Duration::ZERO; c.entities.len()];
        let mut label_horizon = vec![Duration::ZERO; c.entities.len()];
        let mut features = Vec::with_capacity(file.features.len());
        let reserved = [Some(&c.time), Some(&c.label), c.id.as_ref()];
        for f in &file.features {
            let at = |what: &str| format!("feature {:?}: {what}", f.name);
            if f.name.trim().is_empty() || !names.insert(f.name.as_str()) {
                return Err(format!("feature {:?}: every feature needs a name of its own", f.name));
            }
            let intern = |list: &mut Vec<String>, col: &str| -> Result<usize, String> {
                if col.trim().is_empty() || reserved.contains(&Some(&col.to_string())) {
                    return Err(at(&format!("{col:?} is the time, the label or the id, not a value")));
                }
                Ok(list.iter().position(|n| n == col).unwrap_or_else(|| {
                    list.push(col.to_string());
                    list.len() - 1
                }))
            };
            let kinds = [f.raw.is_some(), f.calendar.is_some(), f.aggregate.is_some()];
            if kinds.iter().filter(|k| **k).count() != 1 {
                return Err(at("give exactly one of raw, calendar or aggregate"));
            }
            let feature = if let Some(col) = &f.raw {
                if f.entity.is_some() || f.window.is_some() || f.of.is_some() || f.hours.is_some() {
                    return Err(at("a raw feature takes no entity, window, of or hours"));
                }
                Feature::Raw { column: intern(&mut numbers, col)? }
            } else if let Some(cal) = &f.calendar {
                if f.entity.is_some() || f.window.is_some() || f.of.is_some() {
                    return Err(at("a calendar feature takes no entity, window or of"));
                }
                Feature::Calendar(match (cal.as_str(), f.hours) {
                    ("weekday", None) => Calendar::Weekday,
                    ("weekend", None) => Calendar::Weekend,
                    ("hour", None) => Calendar::Hour,
                    ("night", hours) => {
                        let [from, to] = hours.unwrap_or([0, 6]);
                        if from > 23 || to > 23 {
                            return Err(at("night hours are 0 to 23"));
                        }
                        Calendar::Night { from, to }
                    }
                    (other, None) => {
                        return Err(at(&format!("calendar is {other:?}; it must be weekday, weekend, hour or night")));
                    }
                    (_, Some(_)) => return Err(at("only calendar = \"night\" takes hours")),
                })
            } else {
                let aggregate = f.aggregate.as_deref().unwrap_or_default();
                let Some(entity_name) = &f.entity else {
                    return Err(at("an aggregate needs an entity (one of columns.entities)"));
                };
                let Some(entity) = c.entities.iter().position(|e| e == entity_name) else {
                    return Err(at(&format!("entity {entity_name:?} is not in columns.entities {:?}", c.entities)));
                };
                let Some(window) = &f.window else {
                    return Err(at("an aggregate needs a window, e.g. \"7d\""));
                };
                let window = Duration::parse(window).map_err(|e| at(&format!("window: {e}")))?;
                if window.ms() == 0 {
                    return Err(at("the window must be longer than 0"));
                }
                let of = |numbers: &mut Vec<String>| -> Result<usize, String> {
                    match &f.of {
                        Some(col) => intern(numbers, col),
                        None => Err(at(&format!("aggregate {aggregate:?} needs `of`, the column it reads"))),
                    }
                };
                let label = match aggregate {
                    "label_count" => Some(LabelAggregate::Count),
                    "label_frauds" => Some(LabelAggregate::Frauds),
                    "label_rate" => Some(LabelAggregate::Rate),
                    _ => None,
                };
                if let Some(aggregate) = label {
                    if delay.ms() == 0 {
                        return Err(at("a label aggregate needs [labels] delay, when a label is known"));
                    }
                    if f.of.is_some() || f.current.is_some() {
                        return Err(at("a label aggregate takes no `of` or `current`"));
                    }
                    label_horizon[entity] = label_horizon[entity].max(window);
                    Feature::Labels { entity, window, aggregate }
                } else {
                    let current = f.current.unwrap_or(true);
                    let aggregate = match aggregate {
                        "count" => Aggregate::Count,
                        "sum" => Aggregate::Sum { column: of(&mut numbers)? },
                        "mean" => Aggregate::Mean { column: of(&mut numbers)? },
                        "min" => Aggregate::Min { column: of(&mut numbers)? },
                        "max" => Aggregate::Max { column: of(&mut numbers)? },
                        "std" => Aggregate::Std { column: of(&mut numbers)? },
                        "ratio_to_mean" => Aggregate::RatioToMean { column: of(&mut numbers)? },
                        "zscore" => Aggregate::ZScore { column: of(&mut numbers)? },
                        "since_previous" => Aggregate::SincePrevious,
                        "distinct" => match &f.of {
                            Some(col) => Aggregate::Distinct { text: intern(&mut texts, col)? },
                            None => return Err(at("distinct needs `of`, the column whose values it counts")),
                        },
                        other => {
                            return Err(at(&format!(
                                "aggregate {other:?} is not one of count, sum, mean, min, max, std, distinct, \
                                 since_previous, ratio_to_mean, zscore, label_count, label_frauds, label_rate"
                            )));
                        }
                    };
                    if matches!(aggregate, Aggregate::Count | Aggregate::SincePrevious) && f.of.is_some() {
                        return Err(at("count and since_previous take no `of`"));
                    }
                    horizon[entity] = horizon[entity].max(window);
                    Feature::Window { entity, window, current, aggregate }
                }
            };
            features.push(feature);
        }
        for (e, name) in c.entities.iter().enumerate() {
            let mut windows: Vec<i64> = features
                .iter()
                .filter_map(|f| match f {
                    Feature::Labels { entity, window, .. } if *entity == e => Some(window.ms()),
                    _ => None,
                })
                .collect();
            windows.sort_unstable();
            windows.dedup();
            if windows.len() > MAX_LABEL_WINDOWS {
                return Err(format!(
                    "{name:?} has {} label windows; at most {} are allowed",
                    windows.len(),
                    MAX_LABEL_WINDOWS
                ));
            }
        }
        if c.entities.len() > MAX_ENTITIES {
            return Err(format!("at most {} entities are allowed", MAX_ENTITIES));
        }
        for col in &numbers {
            if c.entities.contains(col) {
                return Err(format!("{col:?} is an entity; its id is not a number (count it with `distinct`)"));
            }
        }
        Ok(Spec { zone, delay, features, numbers, texts, horizon, label_horizon, file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDBOOK: &str = include_str!("../../examples/handbook.toml");

    #[test]
    fn the_handbook_spec_has_its_fifteen_features_in_order() {
        let spec = Spec::parse(HANDBOOK, "handbook.toml").unwrap();
        let names: Vec<&str> = spec.names().collect();
        assert_eq!(names.len(), 15);
        assert_eq!(names[0], "TX_AMOUNT");
        assert_eq!(names[3], "CUSTOMER_ID_NB_TX_1DAY_WINDOW");
        assert_eq!(names[14], "TERMINAL_ID_RISK_30DAY_WINDOW");
        assert_eq!(spec.delay.ms(), 7 * 86_400_000);
        assert_eq!(spec.event_entities(), vec![0]);
        assert_eq!(spec.label_entities(), vec![1]);
        assert_eq!(spec.numbers, vec!["TX_AMOUNT".to_string()]);
        // Stored in a model and read back, it is the same spec.
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<Spec>(&json).unwrap(), spec);
    }

    fn error(text: &str) -> String {
        Spec::parse(text, "t.toml").unwrap_err().to_string()
    }

    #[test]
    fn mistakes_are_named() {
        let head = "[columns]\ntime = \"t\"\nlabel = \"y\"\nentities = [\"card\"]\n";
        assert!(
            error(&format!("{head}[[features]]\nname = \"a\"\naggregate = \"count\"\nentity = \"card\"\n"))
                .contains("needs a window")
        );
        assert!(
            error(&format!(
                "{head}[[features]]\nname = \"a\"\naggregate = \"mean\"\nentity = \"card\"\nwindow = \"1d\"\n"
            ))
            .contains("needs `of`")
        );
        assert!(
            error(&format!(
                "{head}[[features]]\nname = \"a\"\naggregate = \"label_rate\"\nentity = \"card\"\nwindow = \"1d\"\n"
            ))
            .contains("[labels] delay")
        );
        assert!(
            error(&format!(
                "{head}[[features]]\nname = \"a\"\naggregate = \"count\"\nentity = \"shop\"\nwindow = \"1d\"\n"
            ))
            .contains("not in columns.entities")
        );
        assert!(
            error(&format!("{head}[[features]]\nname = \"a\"\nraw = \"x\"\ncalendar = \"hour\"\n"))
                .contains("exactly one")
        );
        assert!(error(&format!("{head}[[features]]\nname = \"a\"\nraw = \"y\"\n")).contains("not a value"));
        assert!(
            error(&format!("{head}[[features]]\nname = \"a\"\nraw = \"x\"\n[[features]]\nname = \"a\"\nraw = \"z\"\n"))
                .contains("a name of its own")
        );
        assert!(
            error(&format!("{head}[[features]]\nname = \"a\"\nraw = \"x\"\nwindows = \"1d\"\n"))
                .contains("unknown field")
        );
        assert!(
            error(&format!("{head}[[features]]\nname = \"a\"\ncalendar = \"night\"\nhours = [0, 24]\n"))
                .contains("0 to 23")
        );
    }
}
