//! Raw events and labels on the wire, as `fraud produce --spec` sends them: one JSON object per
//! event with the columns the spec reads, its id and its time (numbers as numbers, other
//! values as strings, empty cells as null), and one JSON object per label with the transaction's id, its
//! time as the file wrote it, when the label became known (`known_at`, RFC 3339), the label
//! (0 or 1) and the spec's entities.

use std::io::Write;

use serde_json::{Map, Value};

use super::{ErrorCode, WireError};
use crate::decimal::parse_cell;
use crate::features::Spec;
use crate::features::state::text_hash;
use crate::schema::{category_text, number_text};

/// The name of a label message's field saying when the label became known.
pub const KNOWN_AT: &str = "known_at";

/// Writes events and labels of one file's columns.
pub struct EventWriter {
    names: Vec<String>,
    /// Columns sent with each event.
    sent: Vec<usize>,
}

/// One label's fields, cells as the file has them.
pub struct LabelFields<'a> {
    pub id: &'a [u8],
    pub time: &'a [u8],
    pub known_at: String,
    pub fraud: bool,
    pub entities: Vec<(&'a str, &'a [u8])>,
}

impl EventWriter {
    /// `names`: the file's header; `sent`: the columns an event carries, in order.
    pub fn new(names: &[String], sent: Vec<usize>) -> EventWriter {
        EventWriter { names: names.to_vec(), sent }
    }

    /// One event's object into `out` (cleared first).
    pub fn event(&self, record: &csv::ByteRecord, out: &mut Vec<u8>) {
        out.clear();
        out.push(b'{');
        for (k, &c) in self.sent.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            key(out, &self.names[c]);
            value(out, &record[c]);
        }
        out.push(b'}');
    }

    /// One label's object into `out` (cleared first).
    pub fn label(&self, fields: &LabelFields<'_>, spec: &Spec, out: &mut Vec<u8>) {
        out.clear();
        out.push(b'{');
        key(out, spec.id_column().unwrap_or("id"));
        value(out, fields.id);
        out.push(b',');
        key(out, spec.time_column());
        text(out, &String::from_utf8_lossy(fields.time));
        out.push(b',');
        key(out, KNOWN_AT);
        text(out, &fields.known_at);
        out.push(b',');
        key(out, spec.label_column());
        out.push(if fields.fraud { b'1' } else { b'0' });
        for (name, cell) in &fields.entities {
            out.push(b',');
            key(out, name);
            value(out, cell);
        }
        out.push(b'}');
    }
}

/// An event read from the wire, in the spec's terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawEvent {
    pub time: i64,
    /// Per entity, its key's canonical text (None for null or absent).
    pub keys: Vec<Option<String>>,
    pub numbers: Vec<f64>,
    pub texts: Vec<u64>,
    pub id: Option<String>,
}

/// A label read from the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct RawLabel {
    pub time: i64,
    pub known_at: i64,
    pub keys: Vec<Option<String>>,
    pub fraud: bool,
}

fn object(payload: &[u8]) -> Result<Map<String, Value>, WireError> {
    let text = std::str::from_utf8(payload).map_err(|e| WireError::new(ErrorCode::InvalidUtf8, e.to_string()))?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(WireError::new(ErrorCode::UnknownLayout, "an event is one JSON object of its fields")),
        Err(e) => Err(WireError::new(ErrorCode::InvalidJson, e.to_string())),
    }
}

fn time_of(spec: &Spec, map: &Map<String, Value>, field: &str) -> Result<i64, WireError> {
    match map.get(field) {
        Some(Value::String(s)) => spec
            .zone
            .parse_time(s)
            .ok_or_else(|| WireError::new(ErrorCode::NotNumeric, format!("{field}: {s:?} is not a time"))),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|v| (v * spec.time_unit_ms() as f64).round() as i64)
            .ok_or_else(|| WireError::new(ErrorCode::NonFinite, format!("{field}: not a finite number"))),
        _ => Err(WireError::new(ErrorCode::MissingColumn, format!("no time in {field}"))),
    }
}

/// A key's or a category's text: strings and numbers alike, null for none.
fn text_of(v: Option<&Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(category_text(s).into_owned()),
        Some(Value::Number(n)) => n.as_f64().map(number_text),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn keys_of(spec: &Spec, map: &Map<String, Value>) -> Vec<Option<String>> {
    spec.entities().iter().map(|e| text_of(map.get(e))).collect()
}

/// Reads one event object: the spec's time, entities and columns; the id when the spec has one.
pub fn parse_event(spec: &Spec, payload: &[u8], into: &mut RawEvent) -> Result<(), WireError> {
    let map = object(payload)?;
    into.time = time_of(spec, &map, spec.time_column())?;
    into.keys = keys_of(spec, &map);
    into.numbers.clear();
    for name in &spec.numbers {
        let v = match map.get(name) {
            Some(Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            Some(Value::Null) => f64::NAN,
            Some(Value::String(s)) if s.trim().is_empty() => f64::NAN,
            Some(Value::String(s)) => parse_cell(s.as_bytes())
                .map_err(|_| WireError::new(ErrorCode::NotNumeric, format!("{name}: {s:?} is not a number")))?,
            Some(Value::Bool(b)) => f64::from(u8::from(*b)),
            Some(_) => return Err(WireError::new(ErrorCode::NotNumeric, format!("{name}: not a number"))),
            None => return Err(WireError::new(ErrorCode::MissingColumn, format!("no field {name}"))),
        };
        into.numbers.push(v);
    }
    into.texts.clear();
    for name in &spec.texts {
        into.texts.push(text_hash(&text_of(map.get(name)).unwrap_or_default()));
    }
    into.id = spec.id_column().and_then(|c| text_of(map.get(c)).or_else(|| map.get(c).map(|v| v.to_string())));
    Ok(())
}

/// Reads one label object (see [`EventWriter::label`]).
pub fn parse_label(spec: &Spec, payload: &[u8]) -> Result<RawLabel, WireError> {
    let map = object(payload)?;
    let fraud = match map.get(spec.label_column()) {
        Some(Value::Number(n)) if n.as_f64() == Some(1.0) => true,
        Some(Value::Number(n)) if n.as_f64() == Some(0.0) => false,
        Some(Value::Bool(b)) => *b,
        _ => return Err(WireError::new(ErrorCode::NotNumeric, format!("{} is not 0 or 1", spec.label_column()))),
    };
    Ok(RawLabel {
        time: time_of(spec, &map, spec.time_column())?,
        known_at: time_of(spec, &map, KNOWN_AT)?,
        keys: keys_of(spec, &map),
        fraud,
    })
}

fn key(out: &mut Vec<u8>, name: &str) {
    text(out, name);
    out.push(b':');
}

fn text(out: &mut Vec<u8>, s: &str) {
    // A string always serialises.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// A cell: null when empty, a number when it is one (an integer without a fraction), else a
/// string.
fn value(out: &mut Vec<u8>, cell: &[u8]) {
    let trimmed = cell.trim_ascii();
    if trimmed.is_empty() {
        out.extend_from_slice(b"null");
        return;
    }
    match parse_cell(trimmed) {
        // `true`/`false` are numbers to parse_cell; on the wire they stay what they were.
        Ok(_) if trimmed.eq_ignore_ascii_case(b"true") || trimmed.eq_ignore_ascii_case(b"false") => {
            text(out, &String::from_utf8_lossy(trimmed))
        }
        Ok(v) if v.fract() == 0.0 && v.abs() < 1e15 => {
            let _ = write!(out, "{}", v as i64);
        }
        Ok(v) => out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes()),
        Err(_) => text(out, &String::from_utf8_lossy(trimmed)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_and_labels_as_json() {
        let names: Vec<String> = ["id", "when", "card", "amount", "fraud"].map(String::from).to_vec();
        let w = EventWriter::new(&names, vec![0, 1, 2, 3]);
        let record = csv::ByteRecord::from(vec!["7", "2020-01-01 00:00:00", "c\"1", "12.50", "1"]);
        let mut out = Vec::new();
        w.event(&record, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v, serde_json::json!({"id": 7, "when": "2020-01-01 00:00:00", "card": "c\"1", "amount": 12.5}));
        let spec = Spec::parse(
            "[columns]\ntime = \"when\"\nid = \"id\"\nlabel = \"fraud\"\nentities = [\"card\"]\n[[features]]\nname = \"a\"\nraw = \"amount\"\n",
            "t",
        )
        .unwrap();
        let fields = LabelFields {
            id: b"7",
            time: b"2020-01-01 00:00:00",
            known_at: "2020-01-08T00:00:00.000+00:00".into(),
            fraud: true,
            entities: vec![("card", b"c1")],
        };
        w.label(&fields, &spec, &mut out);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 7, "when": "2020-01-01 00:00:00", "known_at": "2020-01-08T00:00:00.000+00:00", "fraud": 1, "card": "c1"})
        );
    }
}
