//! A fast path for the blocks of a numeric CSV like the card data: bare numbers separated by
//! commas, lines ending in `\n`, the class `0`/`1` quoted or not. Numbers go through
//! [`json_number`] (exact, eight digits at a time); the columns not used are skipped unparsed.
//!
//! It accepts a strict subset of what the csv-crate path accepts and returns the same rows. On
//! anything else (blanks around a number, `\r\n`, quoted numbers, escapes, a wrong width, a bad
//! cell) it returns `None` and the csv path parses the block again, so every error keeps its
//! line, column and message.

use super::layout::{Layout, Parsed, Role};
use crate::decimal::json_number;

/// Parses a block of whole lines, or returns None to leave it to the csv path.
pub(super) fn parse_block(bytes: &[u8], layout: &Layout) -> Option<Parsed> {
    if !layout.all_numeric() {
        return None;
    }
    let roles = &layout.roles;
    let labelled = layout.has(Role::Label);
    let mut out = Parsed { values: Vec::with_capacity(bytes.len() / 16), ..Default::default() };
    let mut row = vec![0.0; layout.features()];
    let mut p = 0;
    while p < bytes.len() {
        if bytes[p] == b'\n' {
            p += 1; // a blank line is not a row, on the csv path too
            continue;
        }
        let mut label = false;
        for (c, role) in roles.iter().enumerate() {
            if c > 0 {
                if bytes.get(p) != Some(&b',') {
                    return None;
                }
                p += 1;
            }
            match role {
                Role::Numeric(j) => {
                    let (v, end) = json_number(bytes, p)?;
                    row[*j] = v;
                    p = end;
                }
                Role::Label => {
                    let (l, len) = match bytes.get(p..p + 3) {
                        Some(b"\"0\"") => (false, 3),
                        Some(b"\"1\"") => (true, 3),
                        _ => match bytes.get(p) {
                            Some(b'0') => (false, 1),
                            Some(b'1') => (true, 1),
                            _ => return None,
                        },
                    };
                    label = l;
                    p += len;
                }
                Role::Skip | Role::Time => p = skip_field(bytes, p)?,
                Role::Categorical(_) | Role::Id => return None,
            }
        }
        match bytes.get(p) {
            Some(b'\n') => p += 1,
            None => {}
            Some(_) => return None,
        }
        out.values.extend_from_slice(&row);
        if labelled {
            out.labels.push(label);
        }
        out.rows += 1;
    }
    Some(out)
}

/// Where the field starting at `p` ends: a bare one at the next `,` or line end, a quoted one
/// after its closing quote (None if it holds an escaped quote, a line break or a `\r`).
fn skip_field(bytes: &[u8], p: usize) -> Option<usize> {
    if bytes.get(p) == Some(&b'"') {
        let close = p + 1 + memchr::memchr2(b'"', b'\n', &bytes[p + 1..])?;
        return (bytes[close] == b'"' && bytes.get(close + 1) != Some(&b'"')).then_some(close + 1);
    }
    // A bare field ends at `,` or `\n`; a quote or a `\r` (a line end to the csv crate) in it
    // is left to the csv path.
    let end = p + bytes[p..].iter().position(|c| matches!(c, b',' | b'\n' | b'"' | b'\r')).unwrap_or(bytes.len() - p);
    matches!(bytes.get(end), None | Some(b',' | b'\n')).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::records::parse_block as by_csv;
    use crate::dataset::stages::Block;
    use crate::schema::Schema;
    use rand::{Rng, SeedableRng};
    use std::path::Path;

    pub(in crate::dataset) fn kaggle_layout(header: &str) -> Layout {
        let names: Vec<&str> = header.split(',').map(|n| n.trim_matches('"')).collect();
        let schema = Schema::kaggle();
        let roles = names
            .iter()
            .map(|n| match schema.index(n) {
                Some(j) => Role::Numeric(j),
                None if *n == "Class" => Role::Label,
                None => Role::Skip,
            })
            .collect();
        Layout {
            roles,
            label: "Class".into(),
            names: schema.names().map(String::from).collect(),
            inferred: vec![false; schema.width()],
            max_categories: None,
            schema: Some(std::sync::Arc::new(schema)),
        }
    }

    fn sample() -> (String, Vec<String>) {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("data/sample.csv")).unwrap();
        let mut lines = text.lines().map(str::to_string);
        let header = lines.next().unwrap();
        (header, lines.collect())
    }

    /// The csv path's rows of `bytes`, or None if it reports an error.
    fn csv_rows(bytes: &[u8], layout: &Layout) -> Option<(Vec<u64>, Vec<bool>, usize)> {
        let block = Block { seq: 0, first_line: 2, bytes: bytes.to_vec() };
        let p = by_csv(Path::new("t.csv"), &block, layout).ok()?;
        Some((p.values.iter().map(|v| v.to_bits()).collect(), p.labels, p.rows))
    }

    fn fast_rows(bytes: &[u8], layout: &Layout) -> Option<(Vec<u64>, Vec<bool>, usize)> {
        let p = parse_block(bytes, layout)?;
        Some((p.values.iter().map(|v| v.to_bits()).collect(), p.labels, p.rows))
    }

    #[test]
    fn takes_the_real_sample_and_agrees_with_the_csv_path() {
        let (header, lines) = sample();
        let layout = kaggle_layout(&header);
        let body = lines.join("\n") + "\n";
        let fast = fast_rows(body.as_bytes(), &layout).expect("the fast path takes the real data");
        assert_eq!(fast.2, 8000);
        assert_eq!(Some(fast), csv_rows(body.as_bytes(), &layout));
        // Columns in another order, Time quoted, no final newline, a blank line: same rows.
        let reordered: Vec<String> = lines
            .iter()
            .take(50)
            .map(|l| {
                let mut f: Vec<&str> = l.split(',').collect();
                f.reverse();
                let time = format!("\"{}\"", f.last().unwrap());
                *f.last_mut().unwrap() = &time;
                f.join(",")
            })
            .collect();
        let mut h: Vec<&str> = header.split(',').collect();
        h.reverse();
        let layout = kaggle_layout(&h.join(","));
        let body = reordered[..25].join("\n") + "\n\n" + &reordered[25..].join("\n");
        let fast = fast_rows(body.as_bytes(), &layout).expect("taken");
        assert_eq!(fast.2, 50);
        assert_eq!(Some(fast), csv_rows(body.as_bytes(), &layout));
    }

    #[test]
    fn never_accepts_what_the_csv_path_rejects_or_reads_differently() {
        let (header, lines) = sample();
        let layout = kaggle_layout(&header);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let junk = b",\n\r\"0123456789-+eE. xa";
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..20_000 {
            let at = rng.gen_range(0..lines.len() - 3);
            let mut m = (lines[at..at + 3].join("\n") + "\n").into_bytes();
            crate::test_support::mutate(&mut rng, &mut m, junk);
            match fast_rows(&m, &layout) {
                Some(fast) => {
                    accepted += 1;
                    let csv = csv_rows(&m, &layout)
                        .unwrap_or_else(|| panic!("fast accepted what csv rejects: {}", String::from_utf8_lossy(&m)));
                    assert_eq!(fast, csv, "{}", String::from_utf8_lossy(&m));
                }
                None => refused += 1,
            }
        }
        assert!(accepted > 1000 && refused > 1000, "{accepted} accepted, {refused} refused");
    }

    #[test]
    fn leaves_odd_forms_to_the_csv_path() {
        let (header, lines) = sample();
        let layout = kaggle_layout(&header);
        let row = &lines[0];
        for odd in [
            row.replace(',', ", "),                                // blanks around numbers
            format!("{row}\r\n"),                                  // CRLF
            row.replacen(",-", ",\"-", 1).replacen(',', "\",", 2), // a quoted number
            row.replace("\"0\"", "\"0.0\""),                       // another spelling of the class
            format!("{row},extra"),                                // wrong width
            row.replacen(",-", ",NaN,", 1),                        // not a number
        ] {
            assert!(parse_block(odd.as_bytes(), &layout).is_none(), "{odd}");
        }
    }
}
