//! Raw events and labels on the wire, as `fraud produce --spec` sends them: one JSON object per
//! event with the columns the spec reads, its id and its time (numbers as numbers, other
//! values as strings, empty cells as null), and one JSON object per label with the transaction's id, its
//! time as the file wrote it, when the label became known (`known_at`, RFC 3339), the label
//! (0 or 1) and the spec's entities.

use std::io::Write;

use crate::decimal::parse_cell;
use crate::features::Spec;

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
