//! Transactions read from a Parquet file (found by its `PAR1` magic, whatever its name). The
//! columns are the schema's top-level fields, resolved by the same rules as a CSV header; each
//! column chunk is decoded as its type says, never through text, into the same blocks as the
//! CSV parsers give (one per row group). Every bad value is reported with its file, row, row
//! group and column.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Instant;

use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use parquet::basic::{ConvertedType, LogicalType, Type as Physical};
use parquet::column::reader::{ColumnReader, ColumnReaderImpl};
use parquet::data_type::{ByteArray, DataType, FixedLenByteArray};
use parquet::errors::ParquetError;
use parquet::file::reader::{FileReader, RowGroupReader};
use parquet::file::serialized_reader::SerializedFileReader;
use parquet::schema::types::ColumnDescriptor;
use sha2::{Digest, Sha256};

use super::columns::{self, Columns, Resolved};
use super::error::DatasetError;
use super::layout::{Layout, Parsed, Role};
use super::records::parse_class;
use crate::decimal::{BadCell, parse_cell};
use crate::schema::number_text;

const MAGIC: &[u8; 4] = b"PAR1";

/// Threads that decode column chunks.
const WORKERS: usize = 2;

/// Whether the file starts with Parquet's magic bytes.
pub(super) fn is_parquet(path: &Path) -> Result<bool, DatasetError> {
    let mut head = [0u8; 4];
    let mut file = File::open(path).map_err(|source| DatasetError::Open { path: path.to_path_buf(), source })?;
    let n = super::stages::read_full(&mut file, &mut head)
        .map_err(|source| DatasetError::Open { path: path.to_path_buf(), source })?;
    Ok(n == MAGIC.len() && &head == MAGIC)
}

/// Reads the whole file: the columns resolved, a block of rows per row group, and the sha256 of
/// the file's bytes (hashed on its own thread while the chunks are decoded).
pub(super) fn read(
    path: &Path,
    columns: &Columns<'_>,
    progress: bool,
) -> Result<(Resolved, Vec<Parsed>, String), DatasetError> {
    let started = Instant::now();
    let bytes =
        Bytes::from(std::fs::read(path).map_err(|source| DatasetError::Open { path: path.to_path_buf(), source })?);
    tracing::debug!(stage = "read", seconds = started.elapsed().as_secs_f64(), "read stage done");
    thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            let hex = format!("{:x}", Sha256::digest(&bytes[..]));
            tracing::debug!(stage = "hash", seconds = started.elapsed().as_secs_f64(), "read stage done");
            hex
        });
        let decoded = decode(path, bytes.clone(), columns, progress, started);
        let sha256 = hasher.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        decoded.map(|(resolved, blocks)| (resolved, blocks, sha256))
    })
}

/// What a column's values are, as far as reading them goes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Bool,
    Int,
    /// An unsigned integer stored in a signed physical type.
    UInt,
    Float,
    /// Unscaled integers; the value is `unscaled / 10^scale`.
    Decimal(i32),
    /// Strings (or bytes, read as UTF-8 like a CSV cell).
    Text,
    /// A date, a time or a timestamp: only ever the `--time` column.
    Temporal,
    /// A list, map or struct, or a repeated field.
    Nested,
    /// Any other type (a UUID, a 16-bit float, fixed-size bytes).
    Other,
}

impl Kind {
    fn is_number(self) -> bool {
        matches!(self, Kind::Bool | Kind::Int | Kind::UInt | Kind::Float | Kind::Decimal(_))
    }
}

/// A top-level field of the file's schema.
struct Column {
    name: String,
    /// Its leaf column, when it is one flat column.
    leaf: Option<usize>,
    kind: Kind,
    /// The Parquet type, for messages.
    type_name: String,
}

fn kind_of(d: &ColumnDescriptor) -> Kind {
    match d.logical_type_ref() {
        Some(LogicalType::Decimal(t)) => return Kind::Decimal(t.scale),
        Some(LogicalType::Date | LogicalType::Time(_) | LogicalType::Timestamp(_)) => return Kind::Temporal,
        Some(LogicalType::Integer(t)) if !t.is_signed => return Kind::UInt,
        Some(LogicalType::String | LogicalType::Enum | LogicalType::Json) => return Kind::Text,
        Some(LogicalType::Integer(_)) => return Kind::Int,
        Some(_) => return Kind::Other,
        None => {}
    }
    match d.converted_type() {
        ConvertedType::DECIMAL => return Kind::Decimal(d.type_scale()),
        ConvertedType::DATE
        | ConvertedType::TIME_MILLIS
        | ConvertedType::TIME_MICROS
        | ConvertedType::TIMESTAMP_MILLIS
        | ConvertedType::TIMESTAMP_MICROS
        | ConvertedType::INTERVAL => return Kind::Temporal,
        ConvertedType::UINT_8 | ConvertedType::UINT_16 | ConvertedType::UINT_32 | ConvertedType::UINT_64 => {
            return Kind::UInt;
        }
        _ => {}
    }
    match d.physical_type() {
        Physical::BOOLEAN => Kind::Bool,
        Physical::INT32 | Physical::INT64 => Kind::Int,
        Physical::FLOAT | Physical::DOUBLE => Kind::Float,
        Physical::BYTE_ARRAY => Kind::Text,
        Physical::INT96 => Kind::Temporal,
        Physical::FIXED_LEN_BYTE_ARRAY => Kind::Other,
    }
}

/// The top-level fields, in schema order.
fn top_level(file: &SerializedFileReader<Bytes>) -> Vec<Column> {
    let schema = file.metadata().file_metadata().schema_descr();
    let mut columns: Vec<Column> = schema
        .root_schema()
        .get_fields()
        .iter()
        .map(|field| Column {
            name: field.name().to_string(),
            leaf: None,
            kind: Kind::Nested,
            type_name: if field.is_group() { "a group (list, map or struct)".into() } else { "repeated".into() },
        })
        .collect();
    for (leaf, d) in schema.columns().iter().enumerate() {
        if d.path().parts().len() != 1 || d.max_rep_level() != 0 {
            continue;
        }
        let c = &mut columns[schema.get_column_root_idx(leaf)];
        c.leaf = Some(leaf);
        c.kind = kind_of(d);
        c.type_name = match (d.logical_type_ref(), d.converted_type()) {
            (Some(logical), _) => format!("{} ({logical:?})", d.physical_type()),
            (None, ConvertedType::NONE) => d.physical_type().to_string(),
            (None, converted) => format!("{} ({converted})", d.physical_type()),
        };
    }
    columns
}

/// A column's role that its kind cannot fill, as an error.
fn check_roles(path: &Path, file_columns: &[Column], layout: &Layout) -> Result<(), DatasetError> {
    for (c, role) in layout.roles.iter().enumerate() {
        if matches!(role, Role::Skip | Role::Time) {
            continue;
        }
        let Column { name, kind, type_name, .. } = &file_columns[c];
        let what = match kind {
            Kind::Nested => format!(
                "column {name:?} is {type_name}; only flat columns of numbers, booleans and strings can be read: \
                 --exclude it"
            ),
            Kind::Temporal => {
                format!(
                    "column {name:?} is a date or time ({type_name}), not a feature: name it with --time or --exclude it"
                )
            }
            Kind::Other => format!(
                "column {name:?} has the Parquet type {type_name}, which is not read as a number or a string: \
                 --exclude it"
            ),
            _ => continue,
        };
        return Err(DatasetError::Columns { path: path.to_path_buf(), what });
    }
    Ok(())
}

/// One column chunk to decode.
#[derive(Clone, Copy)]
struct Task {
    row_group: usize,
    /// Input column (top-level field).
    column: usize,
    role: Role,
}

/// A decoded column chunk.
enum Out {
    Feature { j: usize, values: Vec<f64>, categories: Vec<String> },
    Labels(Vec<bool>),
    Ids(Vec<String>),
}

/// Why a chunk failed, with where, so the first in file order is reported.
struct Failed {
    /// From 1, over the file; the row group's first row when the chunk cannot be read.
    row: u64,
    column: usize,
    error: DatasetError,
}

fn decode(
    path: &Path,
    bytes: Bytes,
    columns: &Columns<'_>,
    progress: bool,
    started: Instant,
) -> Result<(Resolved, Vec<Parsed>), DatasetError> {
    let file =
        unpanic(|| SerializedFileReader::new(bytes)).map_err(|source| format_error(path, String::new(), source))?;
    let file_columns = top_level(&file);
    let names: Vec<String> = file_columns.iter().map(|c| c.name.clone()).collect();
    let resolved = columns::resolve(path, &names, columns, &|c| file_columns[c].kind.is_number())?;
    let layout = &resolved.layout;
    check_roles(path, &file_columns, layout)?;

    let groups = file.num_row_groups();
    let mut first_rows = Vec::with_capacity(groups);
    let mut rows = 0u64;
    for g in file.metadata().row_groups() {
        first_rows.push(rows);
        rows += u64::try_from(g.num_rows()).unwrap_or(0);
    }
    let tasks: Vec<Task> = (0..groups)
        .flat_map(|row_group| {
            layout
                .roles
                .iter()
                .enumerate()
                .filter(|(_, r)| !matches!(r, Role::Skip | Role::Time))
                .map(move |(column, &role)| Task { row_group, column, role })
        })
        .collect();
    let size = |t: &Task| {
        let leaf = file_columns[t.column].leaf.unwrap_or(0);
        u64::try_from(file.metadata().row_group(t.row_group).column(leaf).compressed_size()).unwrap_or(0)
    };
    let bar = if progress { ProgressBar::new(tasks.iter().map(size).sum()) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("reading {msg} {wide_bar} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(path.display().to_string());

    // Workers take the chunks in file order. A failure stops them at the next row group: the
    // chunks of its own row group may hold an earlier row's failure, and the first is reported.
    let next = AtomicUsize::new(0);
    let failed: Mutex<Vec<Failed>> = Mutex::new(Vec::new());
    let mut outs: Vec<(usize, Out)> = Vec::with_capacity(tasks.len());
    thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(task) = tasks.get(i) else { break };
                        let first_row = first_rows[task.row_group];
                        if failed.lock().is_ok_and(|f| f.iter().any(|f| f.row <= first_row)) {
                            break;
                        }
                        let chunk = Chunk {
                            path,
                            row_group: task.row_group,
                            first_row,
                            column: &file_columns[task.column],
                            layout,
                        };
                        match chunk.decode(&file, task.role) {
                            Ok(out) => done.push((i, out)),
                            Err(f) => {
                                if let Ok(mut all) = failed.lock() {
                                    all.push(Failed { column: task.column, ..f });
                                }
                            }
                        }
                        bar.inc(size(task));
                    }
                    done
                })
            })
            .collect();
        for w in workers {
            outs.extend(w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
    });
    bar.finish_and_clear();
    tracing::debug!(stage = "chunks", seconds = started.elapsed().as_secs_f64(), "read stage done");
    let failed = failed.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(first) = failed.into_iter().min_by_key(|f| (f.row, f.column)) {
        return Err(first.error);
    }

    outs.sort_unstable_by_key(|(i, _)| *i);
    let width = layout.features();
    let mut outs = outs.into_iter().peekable();
    let mut blocks = Vec::with_capacity(groups);
    for (g, meta) in file.metadata().row_groups().iter().enumerate() {
        let rows = usize::try_from(meta.num_rows()).unwrap_or(0);
        let mut block = Parsed { rows, ..Default::default() };
        if layout.schema.is_none() {
            block.categories.resize_with(width, Vec::new);
        }
        let mut features: Vec<Vec<f64>> = vec![Vec::new(); width];
        while let Some((_, out)) = outs.next_if(|(i, _)| tasks[*i].row_group == g) {
            match out {
                Out::Feature { j, values, categories } => {
                    features[j] = values;
                    if layout.schema.is_none() {
                        block.categories[j] = categories;
                    }
                }
                Out::Labels(labels) => block.labels = labels,
                Out::Ids(ids) => block.ids = ids,
            }
        }
        block.values = interleave(&features, rows);
        blocks.push(block);
    }
    tracing::debug!(stage = "rows", seconds = started.elapsed().as_secs_f64(), "read stage done");
    Ok((resolved, blocks))
}

/// The features' columns as rows: each worker takes a run of rows, writes them in order and
/// reads each column in order (a pass per column would go over every row of the result each).
fn interleave(features: &[Vec<f64>], rows: usize) -> Vec<f64> {
    let width = features.len();
    let mut values = vec![0.0; rows * width];
    if width == 0 || features.iter().any(|f| f.len() != rows) {
        return values; // not reached: every feature has a column, of every row
    }
    let per = rows.div_ceil(WORKERS).max(1 << 14);
    thread::scope(|scope| {
        for (part, out) in values.chunks_mut(per * width).enumerate() {
            scope.spawn(move || {
                for (i, row) in out.chunks_exact_mut(width).enumerate() {
                    let r = part * per + i;
                    for (v, f) in row.iter_mut().zip(features) {
                        *v = f[r];
                    }
                }
            });
        }
    });
    values
}

/// `f`'s result, or its panic as an error: the parquet crate panics on some broken files (a
/// negative offset in the metadata, a dictionary page missing) where it should return one.
fn unpanic<T>(f: impl FnOnce() -> Result<T, ParquetError>) -> Result<T, ParquetError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        Err(ParquetError::General(format!("the reader failed: {what}")))
    })
}

fn format_error(path: &Path, at: String, source: ParquetError) -> DatasetError {
    DatasetError::Parquet { path: path.to_path_buf(), at, source }
}

/// The column chunks of one physical type, as read.
enum Raw {
    Bool(Vec<bool>),
    I32(Vec<i32>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
    Bytes(Vec<ByteArray>),
    Fixed(Vec<FixedLenByteArray>),
}

/// One value as its column's type gives it.
#[derive(Clone, Copy)]
enum Cell<'a> {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Num(f64),
    Text(&'a [u8]),
}

impl<'a> Cell<'a> {
    /// The value as a message shows it.
    fn shown(self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::UInt(u) => u.to_string(),
            Cell::Num(v) => v.to_string(),
            Cell::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
        }
    }

    /// The text of the category: a string as it is, an empty one missing; a number's or a
    /// boolean's text as the scorer makes it of a JSON value.
    fn category(self) -> Option<Cow<'a, str>> {
        match self {
            Cell::Null => None,
            Cell::Bool(b) => Some(b.to_string().into()),
            Cell::Int(i) => Some(number_text(i as f64).into()),
            Cell::UInt(u) => Some(number_text(u as f64).into()),
            Cell::Num(v) => Some(number_text(v).into()),
            Cell::Text(t) => {
                let text = String::from_utf8_lossy(t);
                match crate::schema::category_text(&text) {
                    Cow::Borrowed("") => None,
                    Cow::Borrowed(b) if b.len() == text.len() => Some(text),
                    canonical => Some(Cow::Owned(canonical.into_owned())),
                }
            }
        }
    }
}

/// One column chunk and where it stands.
struct Chunk<'a> {
    path: &'a Path,
    row_group: usize,
    first_row: u64,
    column: &'a Column,
    layout: &'a Layout,
}

impl Chunk<'_> {
    fn decode(&self, file: &SerializedFileReader<Bytes>, role: Role) -> Result<Out, Failed> {
        let format = |source| Failed {
            row: self.first_row + 1,
            column: 0,
            error: format_error(
                self.path,
                format!(" (row group {}, column {})", self.row_group + 1, self.column.name),
                source,
            ),
        };
        let group = file.get_row_group(self.row_group).map_err(format)?;
        let rows = usize::try_from(group.metadata().num_rows()).unwrap_or(0);
        let leaf = self.column.leaf.unwrap_or(0);
        let (defs, raw) = unpanic(|| read_chunk(group.as_ref(), leaf, rows)).map_err(format)?;
        let max_def = group.metadata().schema_descr().column(leaf).max_def_level();
        let present = if max_def == 0 { rows } else { defs.iter().filter(|&&d| d == max_def).count() };
        let values = raw_len(&raw);
        if (max_def > 0 && defs.len() != rows) || values != present {
            return Err(format(ParquetError::General(format!(
                "the chunk has {} values, the row group has {rows} rows",
                if max_def > 0 { defs.len() } else { values }
            ))));
        }
        let kind = self.column.kind;
        if let (Role::Numeric(j), Kind::Int | Kind::Float) = (role, kind) {
            let present = match raw {
                Raw::F64(v) => v,
                Raw::F32(v) => v.into_iter().map(f64::from).collect(),
                Raw::I32(v) => v.into_iter().map(f64::from).collect(),
                Raw::I64(v) => v.into_iter().map(|x| x as f64).collect(),
                other => return self.cells(role, rows, max_def, &defs, other),
            };
            return self.numbers(rows, max_def, &defs, present).map(|values| Out::Feature {
                j,
                values,
                categories: Vec::new(),
            });
        }
        self.cells(role, rows, max_def, &defs, raw)
    }

    /// The fast path for a numeric column read as a feature: the non-null values checked,
    /// then spread over the rows.
    fn numbers(&self, rows: usize, max_def: i16, defs: &[i16], present: Vec<f64>) -> Result<Vec<f64>, Failed> {
        // Row of the `i`th non-null value.
        let row_of = |i: usize| {
            if present.len() == rows {
                return i;
            }
            defs.iter().enumerate().filter(|(_, d)| **d == max_def).nth(i).map_or(0, |(row, _)| row)
        };
        if let Some(i) = present.iter().position(|v| !v.is_finite()) {
            let v = present[i];
            return Err(self.bad(row_of(i), format!("{v} is not a finite number (write a missing value as null)")));
        }
        if present.len() == rows {
            return Ok(present);
        }
        let mut present = present.into_iter();
        Ok(defs.iter().map(|&d| if d == max_def { present.next().unwrap_or(f64::NAN) } else { f64::NAN }).collect())
    }

    /// Any column in any role, value by value.
    fn cells(&self, role: Role, rows: usize, max_def: i16, defs: &[i16], raw: Raw) -> Result<Out, Failed> {
        let mut out = match role {
            Role::Numeric(j) | Role::Categorical(j) => {
                Out::Feature { j, values: Vec::with_capacity(rows), categories: Vec::new() }
            }
            Role::Label => Out::Labels(Vec::with_capacity(rows)),
            _ => Out::Ids(Vec::with_capacity(rows)),
        };
        let mut local: HashMap<String, u32> = HashMap::new();
        let mut put = |row: usize, cell: Cell<'_>| -> Result<(), Failed> {
            match (&mut out, role) {
                (Out::Feature { values, .. }, Role::Numeric(_)) => values.push(self.number(row, cell)?),
                (Out::Feature { values, categories, .. }, Role::Categorical(j)) => {
                    if let Cell::Num(v) = cell
                        && !v.is_finite()
                    {
                        return Err(
                            self.bad(row, format!("{v} is not a finite number (write a missing value as null)"))
                        );
                    }
                    values.push(match (cell.category(), &self.layout.schema) {
                        (None, _) => f64::NAN,
                        (Some(text), Some(schema)) => schema.code(j, &text),
                        (Some(text), None) => match local.get(&*text) {
                            Some(&code) => f64::from(code),
                            None => {
                                let code = local.len() as u32;
                                local.insert(text.to_string(), code);
                                categories.push(text.into_owned());
                                f64::from(code)
                            }
                        },
                    });
                }
                (Out::Labels(labels), _) => labels.push(self.class(row, cell)?),
                (Out::Ids(ids), _) => ids.push(match cell {
                    Cell::Null => String::new(),
                    Cell::Bool(b) => b.to_string(),
                    Cell::Int(i) => i.to_string(),
                    Cell::UInt(u) => u.to_string(),
                    Cell::Num(v) => number_text(v),
                    Cell::Text(t) => String::from_utf8_lossy(t).into_owned(),
                }),
                _ => {}
            }
            Ok(())
        };
        let kind = self.column.kind;
        let scale = match kind {
            Kind::Decimal(s) => 10f64.powi(s.abs()),
            _ => 1.0,
        };
        let decimal = |unscaled: f64, s: i32| if s >= 0 { unscaled / scale } else { unscaled * scale };
        let mut next = 0usize;
        // Row `row`'s value: the next of the non-null values, or null.
        let mut value_of = |row: usize| -> Option<usize> {
            if max_def > 0 && defs[row] != max_def {
                return None;
            }
            next += 1;
            Some(next - 1)
        };
        for row in 0..rows {
            let cell = match (value_of(row), &raw) {
                (None, _) => Cell::Null,
                (Some(i), Raw::Bool(v)) => Cell::Bool(v[i]),
                (Some(i), Raw::I32(v)) => match kind {
                    Kind::UInt => Cell::UInt(u64::from(v[i] as u32)),
                    Kind::Decimal(s) => Cell::Num(decimal(f64::from(v[i]), s)),
                    _ => Cell::Int(i64::from(v[i])),
                },
                (Some(i), Raw::I64(v)) => match kind {
                    Kind::UInt => Cell::UInt(v[i] as u64),
                    Kind::Decimal(s) => Cell::Num(decimal(v[i] as f64, s)),
                    _ => Cell::Int(v[i]),
                },
                (Some(i), Raw::F32(v)) => Cell::Num(f64::from(v[i])),
                (Some(i), Raw::F64(v)) => Cell::Num(v[i]),
                (Some(i), Raw::Bytes(v)) => match kind {
                    Kind::Decimal(s) => Cell::Num(decimal(self.unscaled(row, v[i].data())?, s)),
                    _ => Cell::Text(v[i].data()),
                },
                (Some(i), Raw::Fixed(v)) => match kind {
                    Kind::Decimal(s) => Cell::Num(decimal(self.unscaled(row, v[i].data())?, s)),
                    _ => Cell::Text(v[i].data()),
                },
            };
            put(row, cell)?;
        }
        Ok(out)
    }

    /// A feature's number: null is missing, booleans are 1 and 0, text is parsed as in a CSV.
    fn number(&self, row: usize, cell: Cell<'_>) -> Result<f64, Failed> {
        match cell {
            Cell::Null => Ok(f64::NAN),
            Cell::Bool(b) => Ok(f64::from(u8::from(b))),
            Cell::Int(i) => Ok(i as f64),
            Cell::UInt(u) => Ok(u as f64),
            Cell::Num(v) if v.is_finite() => Ok(v),
            Cell::Num(v) => Err(self.bad(row, format!("{v} is not a finite number (write a missing value as null)"))),
            Cell::Text(t) if t.trim_ascii().is_empty() => Ok(f64::NAN),
            Cell::Text(t) => parse_cell(t).map_err(|bad| {
                self.bad(
                    row,
                    match bad {
                        BadCell::NotANumber => format!("{} is not a number", cell.shown()),
                        BadCell::NotFinite => format!(
                            "{} is not a finite number (write a missing value as null)",
                            String::from_utf8_lossy(t)
                        ),
                    },
                )
            }),
        }
    }

    /// The label: 0 or 1 (`false` or `true`, or text as a CSV's class cell); null is refused.
    fn class(&self, row: usize, cell: Cell<'_>) -> Result<bool, Failed> {
        match cell {
            Cell::Bool(b) => Some(b),
            Cell::Int(0) | Cell::UInt(0) => Some(false),
            Cell::Int(1) | Cell::UInt(1) => Some(true),
            Cell::Num(0.0) => Some(false),
            Cell::Num(1.0) => Some(true),
            Cell::Text(t) => parse_class(t),
            _ => None,
        }
        .ok_or_else(|| self.bad(row, format!("{} is not a class (expected 0 or 1)", cell.shown())))
    }

    /// A decimal stored as big-endian two's complement bytes, unscaled.
    fn unscaled(&self, row: usize, b: &[u8]) -> Result<f64, Failed> {
        if b.is_empty() || b.len() > 16 {
            return Err(self.bad(row, format!("a decimal of {} bytes cannot be read (at most 16)", b.len())));
        }
        let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
        let mut be = [fill; 16];
        be[16 - b.len()..].copy_from_slice(b);
        Ok(i128::from_be_bytes(be) as f64)
    }

    fn bad(&self, row: usize, what: String) -> Failed {
        let row = self.first_row + row as u64 + 1;
        Failed {
            row,
            column: 0,
            error: DatasetError::ParquetValue {
                path: self.path.to_path_buf(),
                row,
                row_group: self.row_group + 1,
                column: self.column.name.clone(),
                what,
            },
        }
    }
}

fn raw_len(raw: &Raw) -> usize {
    match raw {
        Raw::Bool(v) => v.len(),
        Raw::I32(v) => v.len(),
        Raw::I64(v) => v.len(),
        Raw::F32(v) => v.len(),
        Raw::F64(v) => v.len(),
        Raw::Bytes(v) => v.len(),
        Raw::Fixed(v) => v.len(),
    }
}

/// Every value of leaf column `leaf` in a row group: the definition levels (empty for a
/// required column) and the non-null values.
fn read_chunk(group: &dyn RowGroupReader, leaf: usize, rows: usize) -> Result<(Vec<i16>, Raw), ParquetError> {
    fn all<T: DataType>(mut r: ColumnReaderImpl<T>, rows: usize) -> Result<(Vec<i16>, Vec<T::T>), ParquetError> {
        let (mut defs, mut values) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        let mut read = 0;
        while read < rows {
            let (records, _, _) = r.read_records(rows - read, Some(&mut defs), None, &mut values)?;
            if records == 0 {
                break;
            }
            read += records;
        }
        Ok((defs, values))
    }
    Ok(match group.get_column_reader(leaf)? {
        ColumnReader::BoolColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::Bool(v)))?,
        ColumnReader::Int32ColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::I32(v)))?,
        ColumnReader::Int64ColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::I64(v)))?,
        ColumnReader::FloatColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::F32(v)))?,
        ColumnReader::DoubleColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::F64(v)))?,
        ColumnReader::ByteArrayColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::Bytes(v)))?,
        ColumnReader::FixedLenByteArrayColumnReader(r) => all(r, rows).map(|(d, v)| (d, Raw::Fixed(v)))?,
        ColumnReader::Int96ColumnReader(_) => {
            return Err(ParquetError::General("INT96 values are only read as the --time column".into()));
        }
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::sync::Arc;

    use parquet::basic::{Compression, GzipLevel, ZstdLevel};
    use parquet::data_type::{BoolType, ByteArrayType, DoubleType, FloatType, Int32Type, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::{SerializedColumnWriter, SerializedFileWriter};
    use parquet::schema::parser::parse_message_type;

    use super::super::{Labelled, Need, Selection, read_table, read_training};
    use super::*;

    /// A column's cells, `None` for null.
    #[derive(Clone)]
    enum Col {
        F64(Vec<Option<f64>>),
        F32(Vec<Option<f32>>),
        I32(Vec<Option<i32>>),
        I64(Vec<Option<i64>>),
        Bool(Vec<Option<bool>>),
        Str(Vec<Option<String>>),
    }

    impl Col {
        fn len(&self) -> usize {
            match self {
                Col::F64(v) => v.len(),
                Col::F32(v) => v.len(),
                Col::I32(v) => v.len(),
                Col::I64(v) => v.len(),
                Col::Bool(v) => v.len(),
                Col::Str(v) => v.len(),
            }
        }

        /// Row `i` as a CSV cell: what a CSV export of the same table holds.
        fn csv(&self, i: usize) -> String {
            fn text<T: ToString>(c: &Option<T>) -> String {
                c.as_ref().map_or(String::new(), T::to_string)
            }
            match self {
                Col::F64(v) => text(&v[i]),
                Col::F32(v) => text(&v[i].map(f64::from)),
                Col::I32(v) => text(&v[i]),
                Col::I64(v) => text(&v[i]),
                Col::Bool(v) => text(&v[i]),
                Col::Str(v) => text(&v[i]),
            }
        }
    }

    fn write_cells<T: DataType>(w: &mut SerializedColumnWriter<'_>, cells: &[Option<T::T>])
    where
        T::T: Clone,
    {
        let values: Vec<T::T> = cells.iter().flatten().cloned().collect();
        let defs: Vec<i16> = cells.iter().map(|c| i16::from(c.is_some())).collect();
        let typed = w.typed::<T>();
        let required = typed.get_descriptor().max_def_level() == 0;
        typed.write_batch(&values, (!required).then_some(&defs[..]), None).unwrap();
    }

    /// Writes `cols` as a Parquet file of schema `message`, in `groups` row groups.
    fn write_parquet(path: &Path, message: &str, cols: &[Col], groups: usize, compression: Compression) {
        let schema = Arc::new(parse_message_type(message).unwrap());
        let props = Arc::new(WriterProperties::builder().set_compression(compression).build());
        let mut writer = SerializedFileWriter::new(File::create(path).unwrap(), schema, props).unwrap();
        let rows = cols[0].len();
        let per = rows.div_ceil(groups);
        for start in (0..rows).step_by(per.max(1)) {
            let r = start..(start + per).min(rows);
            let mut group = writer.next_row_group().unwrap();
            for col in cols {
                let mut w = group.next_column().unwrap().unwrap();
                match col {
                    Col::F64(v) => write_cells::<DoubleType>(&mut w, &v[r.clone()]),
                    Col::F32(v) => write_cells::<FloatType>(&mut w, &v[r.clone()]),
                    Col::I32(v) => write_cells::<Int32Type>(&mut w, &v[r.clone()]),
                    Col::I64(v) => write_cells::<Int64Type>(&mut w, &v[r.clone()]),
                    Col::Bool(v) => write_cells::<BoolType>(&mut w, &v[r.clone()]),
                    Col::Str(v) => {
                        let cells: Vec<Option<ByteArray>> =
                            v[r.clone()].iter().map(|c| c.as_deref().map(ByteArray::from)).collect();
                        write_cells::<ByteArrayType>(&mut w, &cells)
                    }
                }
                w.close().unwrap();
            }
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    /// The same table as CSV.
    fn write_csv(path: &Path, names: &[&str], cols: &[Col]) {
        let mut text = names.join(",") + "\n";
        for i in 0..cols[0].len() {
            text += &cols.iter().map(|c| c.csv(i)).collect::<Vec<_>>().join(",");
            text.push('\n');
        }
        std::fs::write(path, text).unwrap();
    }

    fn assert_same_values(a: &ndarray::Array2<f64>, b: &ndarray::Array2<f64>) {
        assert_eq!(a.shape(), b.shape());
        for ((at, x), y) in a.indexed_iter().zip(b.iter()) {
            assert!(x == y || (x.is_nan() && y.is_nan()), "at {at:?}: {x} != {y}");
        }
    }

    fn assert_same(parquet: &Labelled, csv: &Labelled) {
        assert_eq!(parquet.schema, csv.schema);
        assert_eq!(parquet.labels, csv.labels);
        assert_eq!(parquet.ids, csv.ids);
        assert_eq!(parquet.notes, csv.notes);
        assert_same_values(&parquet.features, &csv.features);
    }

    /// A small generator, so the tables are the same on every run.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (self.0 >> 33) % n
        }
    }

    const MESSAGE: &str = "message tx {
        required binary tx (UTF8);
        optional binary time (UTF8);
        optional double amount;
        required int32 count;
        optional boolean flag;
        optional binary country (UTF8);
        required int64 mcc;
        optional float ratio;
        required int64 Class;
    }";
    const NAMES: [&str; 9] = ["tx", "time", "amount", "count", "flag", "country", "mcc", "ratio", "Class"];

    /// Numbers with nulls, a string id and time, booleans, strings with nulls and empty strings,
    /// integer categories, 32-bit floats and an integer label.
    fn table(rows: usize) -> Vec<Col> {
        let mut g = Lcg(7);
        let countries = ["US", "BR", "NG", "FR", "NA", ""];
        let n = |g: &mut Lcg, k| g.next(k);
        let cols = vec![
            Col::Str((0..rows).map(|i| Some(format!("tx-{i:05}"))).collect()),
            Col::Str((0..rows).map(|i| Some(format!("2025-03-01T00:{:02}:{:02}Z", i / 60 % 60, i % 60))).collect()),
            Col::F64((0..rows).map(|i| (i % 7 != 3).then(|| n(&mut g, 100_000) as f64 / 100.0 + 0.001)).collect()),
            Col::I32((0..rows).map(|_| Some(n(&mut g, 50) as i32 - 10)).collect()),
            Col::Bool((0..rows).map(|i| (i % 11 != 5).then(|| n(&mut g, 2) == 1)).collect()),
            Col::Str((0..rows).map(|i| (i % 13 != 1).then(|| countries[n(&mut g, 6) as usize].to_string())).collect()),
            Col::I64((0..rows).map(|_| Some([5411, 7011, 6011, 4829][n(&mut g, 4) as usize])).collect()),
            Col::F32((0..rows).map(|i| (i % 5 != 0).then(|| n(&mut g, 1000) as f32 / 7.0)).collect()),
            Col::I64((0..rows).map(|_| Some(i64::from(n(&mut g, 10) == 0))).collect()),
        ];
        cols
    }

    fn selection() -> Selection {
        Selection {
            label: "Class".into(),
            id: Some("tx".into()),
            time: Some("time".into()),
            features: None,
            exclude: Vec::new(),
            categorical: vec!["mcc".into()],
        }
    }

    #[test]
    fn reads_as_the_same_table_as_csv() {
        let dir = tempfile::tempdir().unwrap();
        // Row groups of 16,667 rows: two workers make each block's rows.
        let cols = table(50_000);
        let (pq, csv) = (dir.path().join("t.parquet"), dir.path().join("t.csv"));
        write_parquet(&pq, MESSAGE, &cols, 3, Compression::SNAPPY);
        write_csv(&csv, &NAMES, &cols);
        let a = read_training(&pq, &selection(), false).unwrap();
        let b = read_training(&csv, &selection(), false).unwrap();
        assert_same(&a, &b);
        assert_eq!(a.len(), 50_000);
        assert_eq!(a.schema.names().collect::<Vec<_>>(), ["amount", "count", "flag", "country", "mcc", "ratio"]);
        assert_eq!(a.schema.features()[4].categories(), ["4829", "5411", "6011", "7011"]);
        assert!(a.notes.iter().any(|n| n.starts_with("country: not numbers")), "{:?}", a.notes);
        // nulls and empty strings are missing; booleans are 1 and 0
        assert!(a.features[[3, 0]].is_nan() && a.features[[1, 3]].is_nan());
        assert!(a.features.column(2).iter().all(|v| v.is_nan() || *v == 0.0 || *v == 1.0));
        let bytes = std::fs::read(&pq).unwrap();
        assert_eq!(a.sha256, format!("{:x}", Sha256::digest(&bytes)));
    }

    #[test]
    fn reads_against_a_model_schema_as_csv_does() {
        let dir = tempfile::tempdir().unwrap();
        let (pq, csv) = (dir.path().join("t.parquet"), dir.path().join("t.csv"));
        write_parquet(&pq, MESSAGE, &table(600), 2, Compression::UNCOMPRESSED);
        let schema = read_training(&pq, &selection(), false).unwrap().schema;
        // Another table: its categories are coded by the model's lists.
        let mut cols = table(900);
        if let Col::I64(mcc) = &mut cols[6] {
            mcc[4] = Some(1234); // unseen
        }
        write_parquet(&pq, MESSAGE, &cols, 4, Compression::SNAPPY);
        write_csv(&csv, &NAMES, &cols);
        let a = read_table(&pq, &schema, Need::Required, Some(("tx", Need::Required)), false).unwrap();
        let b = read_table(&csv, &schema, Need::Required, Some(("tx", Need::Required)), false).unwrap();
        assert_same_values(&a.features, &b.features);
        assert_eq!((&a.labels, &a.ids), (&b.labels, &b.ids));
        assert_eq!(a.features[[4, 4]], crate::schema::UNSEEN);
    }

    #[test]
    fn every_codec_writers_use_reads_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let cols = table(300);
        let csv = dir.path().join("t.csv");
        write_csv(&csv, &NAMES, &cols);
        let want = read_training(&csv, &selection(), false).unwrap();
        for (name, codec) in [
            ("snappy", Compression::SNAPPY),
            ("zstd", Compression::ZSTD(ZstdLevel::default())),
            ("gzip", Compression::GZIP(GzipLevel::default())),
            ("lz4", Compression::LZ4_RAW),
        ] {
            // Found by its content: the name says CSV.
            let path = dir.path().join(format!("{name}.csv"));
            write_parquet(&path, MESSAGE, &cols, 1, codec);
            assert_same(&read_training(&path, &selection(), false).unwrap(), &want);
        }
    }

    #[test]
    fn labels_of_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        let x = Col::F64(vec![Some(1.0), Some(2.0), None, Some(4.0)]);
        let want = [false, true, true, false];
        for (kind, label) in [
            ("boolean", Col::Bool(want.iter().map(|&b| Some(b)).collect())),
            ("int32", Col::I32(want.iter().map(|&b| Some(i32::from(b))).collect())),
            ("double", Col::F64(want.iter().map(|&b| Some(f64::from(u8::from(b)))).collect())),
            ("binary", Col::Str(["0", "1", "true", "False"].iter().map(|s| Some(s.to_string())).collect())),
        ] {
            let path = dir.path().join(format!("{kind}.parquet"));
            let message = format!("message m {{ optional double x; required {kind} Class; }}");
            write_parquet(&path, &message, &[x.clone(), label], 2, Compression::SNAPPY);
            let t = super::super::read_labelled(&path, false).unwrap();
            assert_eq!(t.labels, want, "{kind}");
            assert!(t.features[[2, 0]].is_nan());
        }
    }

    #[test]
    fn decimals_and_unsigned_integers_are_their_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.parquet");
        let message = "message m { optional int64 price (DECIMAL(12,2)); required int32 n (INTEGER(32,false)); \
                       required int32 Class; }";
        let cols = [
            Col::I64(vec![Some(12345), Some(-5), None]),
            Col::I32(vec![Some(-1), Some(7), Some(0)]),
            Col::I32(vec![Some(0), Some(1), Some(0)]),
        ];
        write_parquet(&path, message, &cols, 1, Compression::SNAPPY);
        let t = super::super::read_labelled(&path, false).unwrap();
        let csv = dir.path().join("d.csv");
        std::fs::write(&csv, "price,n,Class\n123.45,4294967295,0\n-0.05,7,1\n,0,0\n").unwrap();
        assert_same(&t, &super::super::read_labelled(&csv, false).unwrap());
    }

    #[test]
    fn bad_values_name_the_row_the_row_group_and_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.parquet");
        let error = |cols: &[Col]| {
            let message = "message m { optional double x; optional int64 Class; }";
            write_parquet(&path, message, cols, 3, Compression::SNAPPY);
            super::super::read_labelled(&path, false).unwrap_err()
        };
        let x = |bad: &[(usize, f64)]| {
            let mut v: Vec<Option<f64>> = (0..30).map(|i| Some(i as f64)).collect();
            for &(i, b) in bad {
                v[i] = Some(b);
            }
            Col::F64(v)
        };
        let mut labels: Vec<Option<i64>> = vec![Some(0); 30];
        labels[24] = None;
        let e = error(&[x(&[]), Col::I64(labels.clone())]);
        assert!(matches!(e, DatasetError::ParquetValue { row: 25, row_group: 3, .. }), "{e:?}");
        let e = e.to_string();
        assert!(
            e.contains("bad.parquet row 25 (row group 3), column Class: null is not a class (expected 0 or 1)"),
            "{e}"
        );

        // The first bad value in file order is the one reported, whichever column it is in.
        let e = error(&[x(&[(26, f64::INFINITY), (21, f64::NAN)]), Col::I64(labels)]).to_string();
        assert!(e.contains("row 22 (row group 3), column x: NaN is not a finite number"), "{e}");

        let mut labels = vec![Some(1); 30];
        labels[3] = Some(2);
        let e = error(&[x(&[]), Col::I64(labels)]).to_string();
        assert!(e.contains("row 4 (row group 1), column Class: 2 is not a class"), "{e}");
    }

    #[test]
    fn nested_and_time_columns_are_refused_as_features() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("n.parquet");
        let message = "message m { optional double x; repeated int32 scores; \
                       optional int64 ts (TIMESTAMP(MILLIS,true)); required int32 Class; }";
        let schema = Arc::new(parse_message_type(message).unwrap());
        let mut writer = SerializedFileWriter::new(File::create(&path).unwrap(), schema, Default::default()).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut w = group.next_column().unwrap().unwrap();
        w.typed::<DoubleType>().write_batch(&[1.0, 2.0], Some(&[1, 1]), None).unwrap();
        w.close().unwrap();
        let mut w = group.next_column().unwrap().unwrap();
        w.typed::<Int32Type>().write_batch(&[1, 2, 3], Some(&[1, 1, 1]), Some(&[0, 1, 0])).unwrap();
        w.close().unwrap();
        let mut w = group.next_column().unwrap().unwrap();
        w.typed::<Int64Type>().write_batch(&[1_740_000_000_000, 1_740_000_001_000], Some(&[1, 1]), None).unwrap();
        w.close().unwrap();
        let mut w = group.next_column().unwrap().unwrap();
        w.typed::<Int32Type>().write_batch(&[0, 1], None, None).unwrap();
        w.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();

        let sel = |exclude: &[&str], time: Option<&str>| Selection {
            label: "Class".into(),
            time: time.map(String::from),
            exclude: exclude.iter().map(|s| s.to_string()).collect(),
            ..Selection::default()
        };
        let e = read_training(&path, &sel(&[], None), false).unwrap_err().to_string();
        assert!(e.contains("column \"scores\" is repeated; only flat columns") && e.contains("--exclude"), "{e}");
        let e = read_training(&path, &sel(&["scores"], None), false).unwrap_err().to_string();
        assert!(e.contains("column \"ts\" is a date or time") && e.contains("--time"), "{e}");
        let t = read_training(&path, &sel(&["scores"], Some("ts")), false).unwrap();
        assert_eq!(t.schema.names().collect::<Vec<_>>(), ["x"]);
        assert_eq!(t.labels, [false, true]);
        let e = read_training(&path, &sel(&["scores"], Some("tss")), false).unwrap_err().to_string();
        assert!(e.contains("no column(s) tss"), "{e}");
    }

    #[test]
    fn malformed_files_are_parquet_errors() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("g.parquet");
        std::fs::write(&garbage, b"PAR1 this is not a parquet file at all PAR1").unwrap();
        let e = super::super::read_labelled(&garbage, false).unwrap_err();
        assert!(matches!(e, DatasetError::Parquet { .. }), "{e:?}");
        assert!(e.to_string().contains("g.parquet: cannot read it as Parquet"), "{e}");

        let path = dir.path().join("t.parquet");
        write_parquet(&path, MESSAGE, &table(2000), 2, Compression::SNAPPY);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        let e = read_training(&path, &selection(), false).unwrap_err();
        assert!(matches!(e, DatasetError::Parquet { .. }), "{e:?}");

        // A data page broken inside: the error names the row group and the column.
        let mut broken = bytes.clone();
        let file = SerializedFileReader::new(Bytes::from(bytes)).unwrap();
        let chunk = file.metadata().row_group(1).column(2);
        let (start, len) = chunk.byte_range();
        for b in &mut broken[start as usize + 40..(start + len) as usize - 4] {
            *b = 0xa5;
        }
        std::fs::write(&path, &broken).unwrap();
        let e = read_training(&path, &selection(), false).unwrap_err();
        assert!(
            e.to_string().contains("(row group 2, column amount)")
                || e.to_string().contains("row group 2), column amount"),
            "{e}"
        );
    }

    #[test]
    fn the_categorical_fixture_reads_as_its_csv() {
        let csv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/categorical/transactions.csv");
        let text = std::fs::read_to_string(&csv).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("tx_id,time,card_id,amount,merchant_category,country,channel,is_night,hour,label")
        );
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        let cell = |c: usize| rows.iter().map(move |r| Some(r[c]).filter(|s| !s.is_empty()));
        let int = |c: usize| Col::I64(cell(c).map(|s| s.map(|s| s.parse().unwrap())).collect());
        let int32 = |c: usize| Col::I32(cell(c).map(|s| s.map(|s| s.parse().unwrap())).collect());
        let cols = vec![
            Col::Str(cell(0).map(|s| s.map(String::from)).collect()),
            Col::Str(cell(1).map(|s| s.map(String::from)).collect()),
            Col::Str(cell(2).map(|s| s.map(String::from)).collect()),
            Col::F64(cell(3).map(|s| s.map(|s| s.parse().unwrap())).collect()),
            int32(4),
            Col::Str(cell(5).map(|s| s.map(String::from)).collect()),
            Col::Str(cell(6).map(|s| s.map(String::from)).collect()),
            int32(7),
            int(8),
            int32(9),
        ];
        let message = "message t { required binary tx_id (UTF8); required binary time (UTF8); \
                       required binary card_id (UTF8); optional double amount; required int32 merchant_category; \
                       optional binary country (UTF8); required binary channel (UTF8); required int32 is_night; \
                       required int64 hour; required int32 label; }";
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("transactions.parquet");
        write_parquet(&path, message, &cols, 3, Compression::SNAPPY);
        let sel = Selection {
            label: "label".into(),
            id: Some("tx_id".into()),
            time: Some("time".into()),
            features: None,
            exclude: vec!["card_id".into()],
            categorical: vec!["merchant_category".into()],
        };
        let a = read_training(&path, &sel, false).unwrap();
        assert_same(&a, &read_training(&csv, &sel, false).unwrap());
        assert_eq!(a.len(), 4000);
        assert_eq!(a.frauds(), 155);
        assert_eq!(a.features[[0, 1]], a.schema.code(1, "5411"));
    }
}
