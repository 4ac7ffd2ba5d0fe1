//! A fast path for the split layout that `fraud produce` and the tutorial write:
//! `{"columns": [...], "data": [[...], ...]}`, optionally inside `{"dataframe_split": ...}`.
//!
//! It scans the bytes once. Numbers are checked against JSON's grammar and parsed in the same
//! pass, eight digits at a time, with Clinger's exact fast path (fast-float2 for the rest), and
//! the column mapping is reused while the `columns` bytes repeat (they do, in a stream). It
//! accepts a strict subset of what the serde path accepts and returns the same rows. It reads
//! only ASCII outside the column names, and the names are checked as UTF-8 when cached, so it
//! needs no separate UTF-8 pass. On anything else (escapes, other value types, other layouts,
//! any error) it returns `None` and the serde path decides, so every rejection keeps its code
//! and message. It takes numbers for numeric features, numbers or plain strings for
//! categorical ones and for the id; anything else (null, booleans, escapes) is the serde path's.

use crate::decimal::json_number;
use crate::schema::{Rows, Schema};

/// What an input column holds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Target {
    /// Numeric feature `j`.
    Number(usize),
    /// Categorical feature `j`.
    Category(usize),
    Id,
    Ignored,
}

/// The column mapping of the last `columns` array seen, keyed by its exact bytes.
#[derive(Debug, Default)]
pub(super) struct ColumnCache {
    bytes: Vec<u8>,
    /// `target[c]`: what input column `c` holds.
    target: Vec<Target>,
}

struct Scanner<'a> {
    b: &'a [u8],
    p: usize,
}

impl<'a> Scanner<'a> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.p) {
            self.p += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.b.get(self.p) == Some(&c)).then(|| self.p += 1)
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.p).copied()
    }

    fn literal(&mut self, s: &[u8]) -> Option<()> {
        self.ws();
        self.b[self.p..].starts_with(s).then(|| self.p += s.len())
    }

    /// A string without escapes; its contents.
    fn plain_string(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.p;
        let len = memchr::memchr2(b'"', b'\\', &self.b[start..])?;
        if self.b[start + len] != b'"' {
            return None;
        }
        // Control characters are invalid in JSON strings: leave them to serde.
        if self.b[start..start + len].iter().any(|c| *c < 0x20) {
            return None;
        }
        self.p = start + len + 1;
        Some(&self.b[start..start + len])
    }

    /// A number in JSON's grammar, parsed exactly (correctly rounded); None for anything else.
    #[inline]
    fn number(&mut self) -> Option<f64> {
        self.ws();
        let (v, end) = json_number(self.b, self.p)?;
        self.p = end;
        Some(v)
    }
}

/// Parses `bytes` if it is the split layout in its plain form, appending its rows to `out` (and,
/// with an id column, each row's id to `ids`).
pub(super) fn split_layout(
    bytes: &[u8],
    schema: &Schema,
    id: Option<&str>,
    cache: &mut ColumnCache,
    out: &mut Rows,
    ids: &mut Vec<Option<String>>,
) -> Option<()> {
    let mut s = Scanner { b: bytes, p: 0 };
    s.eat(b'{')?;
    let nested = if s.peek()? == b'"' && s.b[s.p..].starts_with(b"\"dataframe_split\"") {
        s.literal(b"\"dataframe_split\"")?;
        s.eat(b':')?;
        s.eat(b'{')?;
        true
    } else {
        false
    };
    s.literal(b"\"columns\"")?;
    s.eat(b':')?;
    s.ws();
    let columns_start = s.p;
    // In a stream every message repeats the columns: the cached array, byte for byte, is the
    // same array (it was validated when cached and ends at its own `]`).
    if cache.bytes.is_empty() || !bytes[columns_start..].starts_with(&cache.bytes) {
        s.eat(b'[')?;
        let mut names: Vec<&str> = Vec::with_capacity(schema.width() + 2);
        if s.peek()? != b']' {
            loop {
                names.push(std::str::from_utf8(s.plain_string()?).ok()?);
                match s.peek()? {
                    b',' => s.p += 1,
                    b']' => break,
                    _ => return None,
                }
            }
        }
        s.eat(b']')?;
        // Missing columns and duplicates are the serde path's to report.
        let map = schema.columns(&names).ok()?;
        let mut sorted = names.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[0] == w[1]) {
            return None;
        }
        cache.target = map
            .inverse()
            .iter()
            .zip(&names)
            .map(|(j, name)| match j {
                Some(j) if schema.is_categorical(*j) => Target::Category(*j),
                Some(j) => Target::Number(*j),
                None if Some(*name) == id => Target::Id,
                None => Target::Ignored,
            })
            .collect();
        cache.bytes = bytes[columns_start..s.p].to_vec();
    } else {
        s.p += cache.bytes.len();
    }

    s.eat(b',')?;
    s.literal(b"\"data\"")?;
    s.eat(b':')?;
    s.eat(b'[')?;
    let before = out.len();
    let ids_before = ids.len();
    let fail = |out: &mut Rows, ids: &mut Vec<Option<String>>| {
        while out.len() > before {
            out.pop();
        }
        ids.truncate(ids_before);
        None
    };
    if s.peek()? != b']' {
        loop {
            if s.eat(b'[').is_none() {
                return fail(out, ids);
            }
            let mut row_id = None;
            if fill_row(&mut s, &cache.target, schema, out.push_missing(), &mut row_id).is_none() {
                return fail(out, ids);
            }
            if id.is_some() {
                ids.push(row_id);
            }
            if s.eat(b']').is_none() {
                return fail(out, ids);
            }
            match s.peek() {
                Some(b',') => s.p += 1,
                Some(b']') => break,
                _ => return fail(out, ids),
            }
        }
    }
    let closed = s.eat(b']').is_some() && (!nested || s.eat(b'}').is_some()) && s.eat(b'}').is_some();
    s.ws();
    // Trailing bytes, or no rows (empty_data is the serde path's to report).
    if !closed || s.p != bytes.len() || out.len() == before {
        return fail(out, ids);
    }
    Some(())
}

/// One row's values, column by column, into `row`; the id's into `row_id`.
#[inline]
fn fill_row(
    s: &mut Scanner<'_>,
    targets: &[Target],
    schema: &Schema,
    row: &mut [f64],
    row_id: &mut Option<String>,
) -> Option<()> {
    for (c, target) in targets.iter().enumerate() {
        if c > 0 {
            s.eat(b',')?;
        }
        match *target {
            Target::Number(j) => row[j] = s.number()?,
            Target::Category(j) => row[j] = category(s, schema, j)?,
            Target::Id => *row_id = Some(text(s)?),
            Target::Ignored => {
                s.number()?;
            }
        }
    }
    Some(())
}

/// A categorical value: a plain string, or a number read as its text.
fn category(s: &mut Scanner<'_>, schema: &Schema, j: usize) -> Option<f64> {
    if s.peek()? == b'"' {
        Some(schema.code(j, std::str::from_utf8(s.plain_string()?).ok()?))
    } else {
        s.number().map(|v| schema.code_of_number(j, v))
    }
}

/// An id: a plain string, or a number as its text; an integer that fits 64 bits keeps every
/// digit, as the serde path keeps it.
fn text(s: &mut Scanner<'_>) -> Option<String> {
    if s.peek()? == b'"' {
        std::str::from_utf8(s.plain_string()?).ok().map(String::from)
    } else {
        let start = s.p;
        let v = s.number()?;
        let token = std::str::from_utf8(&s.b[start..s.p]).ok()?;
        let exact = token.parse::<i64>().map(i128::from).or_else(|_| token.parse::<u64>().map(i128::from));
        Some(exact.map_or_else(|_| crate::schema::number_text(v), |i| i.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::FEATURE_NAMES;
    use crate::wire::layouts::{Envelope, Sink};
    use rand::{Rng, SeedableRng};

    type Found = (Vec<Vec<f64>>, Vec<Option<String>>);

    fn found(rows: &Rows, ids: Vec<Option<String>>) -> Found {
        (rows.iter().map(<[f64]>::to_vec).collect(), ids)
    }

    /// What the serde path makes of `bytes`.
    fn by_serde(bytes: &[u8], schema: &Schema, id: Option<&str>) -> Option<Found> {
        let text = std::str::from_utf8(bytes).ok()?;
        let envelope: Envelope = serde_json::from_str(text).ok()?;
        let (mut rows, mut ids) = (Rows::new(schema.width()), Vec::new());
        envelope.into_rows(&mut Sink { schema, id, rows: &mut rows, ids: &mut ids }).ok()?;
        (!rows.is_empty()).then(|| found(&rows, ids))
    }

    fn by_fast(bytes: &[u8], schema: &Schema, id: Option<&str>, cache: &mut ColumnCache) -> Option<Found> {
        let (mut rows, mut ids) = (Rows::new(schema.width()), Vec::new());
        split_layout(bytes, schema, id, cache, &mut rows, &mut ids).map(|()| found(&rows, ids))
    }

    fn number(rng: &mut impl Rng) -> String {
        match rng.gen_range(0..5) {
            0 => format!("{}", rng.gen_range(-1000..1000)),
            1 => format!("{:e}", rng.gen_range(-1e6..1e6)),
            2 => "0".to_string(),
            _ => format!("{:?}", rng.gen_range(-50.0..50.0) * 10f64.powi(rng.gen_range(-5..5))),
        }
    }

    /// A valid split-layout message: random whitespace, column order, extra columns, rows.
    fn message(rng: &mut impl Rng) -> String {
        let ws = |rng: &mut dyn rand::RngCore| [" ", "", "\n", "\t ", ""][rng.gen_range(0..5)].to_string();
        let mut cols: Vec<String> = FEATURE_NAMES.iter().map(|s| s.to_string()).collect();
        if rng.gen_bool(0.5) {
            cols.push("Time".into());
        }
        if rng.gen_bool(0.3) {
            cols.reverse();
        }
        let rows: Vec<String> = (0..rng.gen_range(1..4))
            .map(|_| {
                let cells: Vec<String> = cols.iter().map(|_| number(rng)).collect();
                format!("[{}]", cells.join(&format!(",{}", ws(rng))))
            })
            .collect();
        let quoted: Vec<String> = cols.iter().map(|c| format!("\"{c}\"")).collect();
        let inner = format!(
            "{{{}\"columns\"{}:{}[{}],{}\"data\":{}[{}]{}}}",
            ws(rng),
            ws(rng),
            ws(rng),
            quoted.join(","),
            ws(rng),
            ws(rng),
            rows.join(","),
            ws(rng)
        );
        if rng.gen_bool(0.3) { format!("{{\"dataframe_split\": {inner}}}") } else { inner }
    }

    #[test]
    fn takes_every_plain_split_message_and_agrees_with_serde() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let mut cache = ColumnCache::default();
        let schema = Schema::kaggle();
        for _ in 0..3000 {
            let m = message(&mut rng);
            let fast =
                by_fast(m.as_bytes(), &schema, None, &mut cache).unwrap_or_else(|| panic!("fast path refused {m}"));
            let serde = by_serde(m.as_bytes(), &schema, None).unwrap_or_else(|| panic!("serde refused {m}"));
            assert_eq!(fast.0.len(), serde.0.len());
            for (a, b) in fast.0.iter().zip(&serde.0) {
                assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}");
            }
        }
    }

    #[test]
    fn never_accepts_what_serde_rejects_or_reads_differently() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut cache = ColumnCache::default();
        let schema = Schema::kaggle();
        let junk = b"{}[],:\"0123456789-+eE. \\nxu";
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let mut m = message(&mut rng).into_bytes();
            crate::test_support::mutate(&mut rng, &mut m, junk);
            match by_fast(&m, &schema, None, &mut cache) {
                Some(fast) => {
                    accepted += 1;
                    let serde = by_serde(&m, &schema, None)
                        .unwrap_or_else(|| panic!("fast accepted what serde rejects: {}", String::from_utf8_lossy(&m)));
                    assert_eq!(fast, serde, "{}", String::from_utf8_lossy(&m));
                }
                None => refused += 1,
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} accepted, {refused} refused");
    }

    #[test]
    fn leaves_other_layouts_and_odd_forms_to_serde() {
        let mut cache = ColumnCache::default();
        let schema = Schema::kaggle();
        let cols = serde_json::to_string(&FEATURE_NAMES).unwrap();
        let row = vec!["1"; 29].join(",");
        for m in [
            format!("{{\"data\": [[{row}]], \"columns\": {cols}}}"),
            format!("{{\"columns\": {cols}, \"data\": [[{row}]], \"index\": [0]}}"),
            format!("{{\"columns\": {}, \"data\": [[{row}]]}}", cols.replace("V1\"", "V\\u0031\"")),
            format!("{{\"columns\": {cols}, \"data\": [[{}]]}}", row.replacen('1', "1e999", 1)),
            format!("{{\"columns\": {cols}, \"data\": [[{}]]}}", row.replacen('1', "01", 1)),
            format!("{{\"columns\": {cols}, \"data\": []}}"),
            format!("{{\"columns\": {cols}, \"data\": [[{row}]]}} x"),
        ] {
            assert!(by_fast(m.as_bytes(), &schema, None, &mut cache).is_none(), "{m}");
        }
    }

    /// A schema with categories and an id: the fast path's rows and ids are the serde path's,
    /// for strings and numbers as categories, unseen ones, and ids of both kinds.
    #[test]
    fn categories_and_ids_agree_with_serde() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
        let schema = Schema::new(
            vec![
                crate::schema::Feature::numeric("amount"),
                crate::schema::Feature::categorical("mcc", list(&["5411", "6011", "7995"])),
                crate::schema::Feature::categorical("country", list(&["DE", "FR", "NG"])),
            ],
            "label",
            Some("tx".into()),
            None,
        )
        .unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        let mut cache = ColumnCache::default();
        let (mut fast_taken, mut compared) = (0, 0);
        for _ in 0..3000 {
            let mcc = ["5411", "6011", "7995", "1234"][rng.gen_range(0..4)];
            let country = ["DE", "FR", "NG", "ZZ", "é"][rng.gen_range(0..5)];
            let mcc = if rng.gen_bool(0.5) { mcc.to_string() } else { format!("\"{mcc}\"") };
            let tx = if rng.gen_bool(0.5) { format!("{}", rng.gen_range(0..99)) } else { "\"t-1\"".to_string() };
            let m = format!(
                "{{\"columns\":[\"tx\",\"amount\",\"mcc\",\"country\",\"x\"],\"data\":[[{tx},{},{mcc},\"{country}\",1]]}}",
                number(&mut rng)
            );
            let mut m = m.into_bytes();
            if rng.gen_bool(0.3) {
                crate::test_support::mutate(&mut rng, &mut m, b"{}[],:\"0123456789-. x");
            }
            let serde = by_serde(&m, &schema, Some("tx"));
            let fast = by_fast(&m, &schema, Some("tx"), &mut cache);
            let m = String::from_utf8_lossy(&m).into_owned();
            if let Some(fast) = fast {
                fast_taken += 1;
                let serde = serde.unwrap_or_else(|| panic!("fast accepted what serde rejects: {m}"));
                assert_eq!(fast.1, serde.1, "{m}");
                for (a, b) in fast.0.iter().zip(&serde.0) {
                    assert!(a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits()), "{m}");
                }
                compared += 1;
            }
        }
        assert!(fast_taken > 1000 && compared == fast_taken, "{fast_taken} taken");
    }
}
