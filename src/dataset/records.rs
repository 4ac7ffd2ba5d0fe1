//! The general path for a block of lines: the csv crate splits the records, and each cell is
//! read by its column's role. It takes any CSV the fast path leaves, and reports every bad cell
//! with its file, line and column.

use std::collections::HashMap;
use std::path::Path;

use super::error::DatasetError;
use super::layout::{Layout, Parsed, Role};
use super::stages::Block;
use crate::decimal::{BadCell, parse_cell};

/// Why the first rows' kinds can be wrong: said when a later cell contradicts them.
const INFERRED_HINT: &str = "; the column's first rows were numbers, so it was read as numeric: name it in --categorical if it holds categories";

pub(super) fn parse_block(path: &Path, block: &Block, layout: &Layout) -> Result<Parsed, DatasetError> {
    let path_buf = || path.to_path_buf();
    let features = layout.features();
    let mut out = Parsed { values: Vec::with_capacity(block.bytes.len() / 16), ..Default::default() };
    // Without a schema each block codes its categories as it meets them (merged after).
    let mut local: Vec<HashMap<String, u32>> = Vec::new();
    if layout.schema.is_none() {
        local.resize_with(features, HashMap::new);
        out.categories.resize_with(features, Vec::new);
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(&block.bytes[..]);
    let mut record = csv::ByteRecord::new();
    loop {
        let more = reader.read_byte_record(&mut record).map_err(|source| DatasetError::Read {
            path: path_buf(),
            line: block.first_line + source.position().map_or(0, |p| p.line().saturating_sub(1)),
            source,
        })?;
        if !more {
            return Ok(out);
        }
        let line = block.first_line + record.position().map_or(0, |p| p.line().saturating_sub(1));
        if record.len() != layout.roles.len() {
            // A blank line reads as one empty field: not a row.
            if record.len() == 1 && record[0].trim_ascii().is_empty() {
                continue;
            }
            return Err(DatasetError::Width {
                path: path_buf(),
                line,
                expected: layout.roles.len(),
                found: record.len(),
            });
        }
        let start = out.values.len();
        out.values.resize(start + features, f64::NAN);
        for (c, role) in layout.roles.iter().enumerate() {
            let cell = &record[c];
            match *role {
                Role::Numeric(j) => {
                    if cell.trim_ascii().is_empty() {
                        continue; // missing
                    }
                    out.values[start + j] = parse_cell(cell).map_err(|bad| {
                        let column = layout.names[j].clone();
                        let value = String::from_utf8_lossy(cell).into_owned();
                        match bad {
                            BadCell::NotANumber => DatasetError::NotANumber {
                                path: path_buf(),
                                line,
                                column,
                                value,
                                hint: if layout.inferred[j] { INFERRED_HINT } else { "" },
                            },
                            BadCell::NotFinite => DatasetError::NotFinite { path: path_buf(), line, column, value },
                        }
                    })?;
                }
                Role::Categorical(j) => {
                    if cell.trim_ascii().is_empty() {
                        continue; // missing
                    }
                    let raw = String::from_utf8_lossy(cell);
                    out.values[start + j] = match &layout.schema {
                        Some(schema) => schema.code(j, &raw),
                        None => {
                            let text = crate::schema::category_text(&raw);
                            let next = local[j].len() as u32;
                            let code = *local[j].entry(text.into_owned()).or_insert_with_key(|t| {
                                out.categories[j].push(t.clone());
                                next
                            });
                            f64::from(code)
                        }
                    };
                }
                Role::Label => out.labels.push(parse_class(cell).ok_or_else(|| DatasetError::BadClass {
                    path: path_buf(),
                    line,
                    column: layout.label.clone(),
                    value: String::from_utf8_lossy(cell).into_owned(),
                })?),
                Role::Id => out.ids.push(String::from_utf8_lossy(cell).into_owned()),
                Role::Time | Role::Skip => {}
            }
        }
        out.rows += 1;
    }
}

/// A class cell: 0 or 1 (quoted or not, `0.0`/`1.0` too), or `false`/`true` in any case.
pub(crate) fn parse_class(cell: &[u8]) -> Option<bool> {
    match cell.trim_ascii() {
        b"0" | b"0.0" => Some(false),
        b"1" | b"1.0" => Some(true),
        c if c.eq_ignore_ascii_case(b"false") => Some(false),
        c if c.eq_ignore_ascii_case(b"true") => Some(true),
        _ => None,
    }
}
