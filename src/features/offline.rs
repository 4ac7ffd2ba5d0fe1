//! Point-in-time features for a whole file: the rows are put in event-time order (ties keep
//! file order) and replayed through the same [`Computer`] the stream uses, with each row's
//! label added once it is known (its time plus the spec's delay). A row's features therefore
//! come only from rows at or before its time, and from labels known by then.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use ndarray::Array2;

use super::spec::Feature;
use super::spec::Spec;
use super::state::{Computer, Event, History, LabelHistory, add_label, text_hash};
use crate::dataset::{DatasetError, parse_class, read_text};
use crate::decimal::parse_cell;
use crate::schema::category_text;

/// A file's rows with their features, in file order.
#[derive(Debug, Clone)]
pub struct Computed {
    pub features: Array2<f64>,
    /// Event time, milliseconds since 1970-01-01 UTC.
    pub times: Vec<i64>,
    /// None when the file has no label column.
    pub labels: Option<Vec<bool>>,
    pub ids: Option<Vec<String>>,
    /// Per row, the first entity's key (the card, for card precision), as an index into
    /// `first_entity_keys`; u32::MAX for none.
    pub first_entity: Vec<u32>,
    pub first_entity_keys: Vec<Box<str>>,
    pub sha256: String,
}

impl Computed {
    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }
}

/// Which column of the file each input is.
struct Columns {
    time: usize,
    id: Option<usize>,
    label: Option<usize>,
    entities: Vec<usize>,
    numbers: Vec<usize>,
    texts: Vec<usize>,
    names: Vec<String>,
}

/// One chunk's rows, parsed; keys interned per chunk.
#[derive(Default)]
struct Chunk {
    times: Vec<i64>,
    labels: Vec<bool>,
    ids: Vec<String>,
    /// rows x entities, per-chunk key numbers (u32::MAX: empty).
    keys: Vec<u32>,
    key_names: Vec<Vec<Box<str>>>,
    numbers: Vec<f64>,
    texts: Vec<u64>,
}

/// Reads `path` and computes every row's features. `need_labels` refuses a file without the
/// label column.
pub fn compute(path: &Path, spec: &Arc<Spec>, need_labels: bool, progress: bool) -> Result<Computed, DatasetError> {
    let (text, sha256) = read_text(path, progress)?;
    let header_end = memchr::memchr(b'\n', &text).map_or(text.len(), |i| i + 1);
    let columns = resolve(path, spec, &text[..header_end], need_labels)?;
    let body = &text[header_end..];
    // Two halves cut at a line break, parsed at once: fields hold no line breaks, as in the
    // other readers.
    let cut = memchr::memchr(b'\n', &body[body.len() / 2..]).map_or(body.len(), |i| body.len() / 2 + i + 1);
    let second_line = 2 + memchr::memchr_iter(b'\n', &body[..cut]).count() as u64;
    let (a, b) = std::thread::scope(|s| {
        let first = s.spawn(|| parse_chunk(path, spec, &columns, &body[..cut], 2));
        let second = parse_chunk(path, spec, &columns, &body[cut..], second_line);
        (first.join().unwrap_or_else(|p| std::panic::resume_unwind(p)), second)
    });
    let chunks = [a?, b?];
    let rows: usize = chunks.iter().map(|c| c.times.len()).sum();
    if rows == 0 {
        return Err(DatasetError::NoRows { path: path.to_path_buf() });
    }
    // One key table per entity over both chunks.
    let n_entities = spec.entities().len();
    let mut key_names: Vec<Vec<Box<str>>> = vec![Vec::new(); n_entities];
    let mut key_index: Vec<HashMap<Box<str>, u32>> = vec![HashMap::new(); n_entities];
    let mut keys: Vec<u32> = Vec::with_capacity(rows * n_entities);
    for chunk in &chunks {
        let remap: Vec<Vec<u32>> = (0..n_entities)
            .map(|e| {
                chunk.key_names[e]
                    .iter()
                    .map(|name| {
                        *key_index[e].entry(name.clone()).or_insert_with(|| {
                            key_names[e].push(name.clone());
                            (key_names[e].len() - 1) as u32
                        })
                    })
                    .collect()
            })
            .collect();
        for row in chunk.keys.chunks(n_entities.max(1)).take(chunk.times.len()) {
            for (e, &k) in row.iter().enumerate() {
                keys.push(if k == u32::MAX { k } else { remap[e][k as usize] });
            }
        }
    }
    let concat =
        |f: &dyn Fn(&Chunk) -> &[f64]| -> Vec<f64> { chunks.iter().flat_map(|c| f(c).iter().copied()).collect() };
    let times: Vec<i64> = chunks.iter().flat_map(|c| c.times.iter().copied()).collect();
    let numbers = concat(&|c| &c.numbers);
    let texts: Vec<u64> = chunks.iter().flat_map(|c| c.texts.iter().copied()).collect();
    let labels: Option<Vec<bool>> =
        columns.label.map(|_| chunks.iter().flat_map(|c| c.labels.iter().copied()).collect());
    let ids: Option<Vec<String>> = columns.id.map(|_| {
        let [a, b] = chunks;
        a.ids.into_iter().chain(b.ids).collect()
    });

    tracing::debug!(rows, "point-in-time rows parsed");
    let t = std::time::Instant::now();
    let features = replay(spec, &times, &keys, &key_names, &numbers, &texts, labels.as_deref());
    tracing::debug!(seconds = t.elapsed().as_secs_f64(), "point-in-time features computed");
    let first_entity =
        if n_entities > 0 { keys.iter().step_by(n_entities).copied().collect() } else { vec![u32::MAX; rows] };
    Ok(Computed {
        features,
        times,
        labels,
        ids,
        first_entity,
        first_entity_keys: key_names.into_iter().next().unwrap_or_default(),
        sha256,
    })
}

/// Computes the rows' features, in file order. The work is split as a stream's state is, by
/// key: each entity's keys are taken one at a time, their rows in time order (ties in file
/// order) through one history, so the history stays in cache; the keys are spread over two
/// threads. Each row sees the same history as in a replay of the whole file in time order.
fn replay(
    spec: &Arc<Spec>,
    times: &[i64],
    keys: &[u32],
    key_names: &[Vec<Box<str>>],
    numbers: &[f64],
    texts: &[u64],
    labels: Option<&[bool]>,
) -> Array2<f64> {
    let rows = times.len();
    let width = spec.width();
    let (ne, nn, nt) = (spec.entities().len(), spec.numbers.len(), spec.texts.len());
    let computer = Computer::new(Arc::clone(spec));
    let mut out = Array2::<f64>::zeros((rows, width));
    let no_keys = vec![None; ne];
    let event = |r: usize| Event {
        time: times[r],
        keys: &no_keys,
        numbers: &numbers[r * nn..(r + 1) * nn],
        texts: &texts[r * nt..(r + 1) * nt],
    };
    for (r, mut row) in out.rows_mut().into_iter().enumerate() {
        if let Some(row) = row.as_slice_mut() {
            computer.plain(&event(r), row);
        }
    }
    let mut order: Vec<u32> = (0..rows as u32).collect();
    order.sort_by_key(|&i| times[i as usize]);
    let (event_entities, label_entities) = (spec.event_entities(), spec.label_entities());
    let delay = spec.delay.ms();
    for e in 0..ne {
        let (events_too, labels_too) = (event_entities.contains(&e), label_entities.contains(&e));
        if !events_too && !labels_too {
            continue;
        }
        let columns: Vec<usize> = (0..width)
            .filter(|&j| match spec.features[j] {
                Feature::Window { entity, .. } | Feature::Labels { entity, .. } => entity == e,
                _ => false,
            })
            .collect();
        // The rows of each key in time order (a counting sort); rows with no key last, alone.
        let n_keys = key_names[e].len();
        let mut start = vec![0usize; n_keys + 2];
        for &r in &order {
            let k = keys[r as usize * ne + e];
            start[if k == u32::MAX { n_keys } else { k as usize } + 1] += 1;
        }
        for k in 1..start.len() {
            start[k] += start[k - 1];
        }
        let mut grouped = vec![0u32; rows];
        let mut fill = start.clone();
        for &r in &order {
            let k = keys[r as usize * ne + e];
            let slot = if k == u32::MAX { n_keys } else { k as usize };
            grouped[fill[slot]] = r;
            fill[slot] += 1;
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let work = || {
            let (mut done_rows, mut done_values) = (Vec::new(), Vec::new());
            let mut row_out = vec![0.0; width];
            loop {
                let first = next.fetch_add(64, std::sync::atomic::Ordering::Relaxed);
                if first > n_keys {
                    break;
                }
                for k in first..(first + 64).min(n_keys + 1) {
                    let group = &grouped[start[k]..start[k + 1]];
                    let keyed = k < n_keys;
                    let mut history = History::default();
                    let mut label_history = LabelHistory::default();
                    let mut known = 0usize;
                    for &r in group {
                        let r = r as usize;
                        let t = times[r];
                        if labels_too {
                            if let (Some(labels), true) = (labels, keyed) {
                                while known < group.len() && times[group[known] as usize] + delay <= t {
                                    let l = group[known] as usize;
                                    add_label(&mut label_history, times[l], times[l] + delay, labels[l]);
                                    known += 1;
                                }
                            }
                            computer.entity_labels(e, keyed.then_some(&label_history), t, &mut row_out);
                        }
                        if events_too {
                            computer.entity_event(e, keyed.then_some(&mut history), &event(r), &mut row_out);
                        }
                        done_rows.push(r as u32);
                        done_values.extend(columns.iter().map(|&j| row_out[j]));
                    }
                }
            }
            (done_rows, done_values)
        };
        let parts: Vec<(Vec<u32>, Vec<f64>)> = std::thread::scope(|s| {
            let other = s.spawn(work);
            let mine = work();
            vec![mine, other.join().unwrap_or_else(|p| std::panic::resume_unwind(p))]
        });
        for (done_rows, done_values) in parts {
            for (r, values) in done_rows.iter().zip(done_values.chunks(columns.len().max(1))) {
                for (&j, &v) in columns.iter().zip(values) {
                    out[[*r as usize, j]] = v;
                }
            }
        }
    }
    out
}

fn resolve(path: &Path, spec: &Spec, header: &[u8], need_labels: bool) -> Result<Columns, DatasetError> {
    let record = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(header)
        .byte_records()
        .next()
        .transpose()
        .map_err(|source| DatasetError::Read { path: path.to_path_buf(), line: 1, source })?
        .ok_or_else(|| DatasetError::Empty { path: path.to_path_buf() })?;
    let names: Vec<String> = record.iter().map(|h| String::from_utf8_lossy(h).trim().to_string()).collect();
    let mut missing = Vec::new();
    let mut find = |name: &str| -> usize {
        names.iter().position(|n| n == name).unwrap_or_else(|| {
            missing.push(name.to_string());
            usize::MAX
        })
    };
    let time = find(spec.time_column());
    let entities: Vec<usize> = spec.entities().iter().map(|e| find(e)).collect();
    let numbers: Vec<usize> = spec.numbers.iter().map(|c| find(c)).collect();
    let texts: Vec<usize> = spec.texts.iter().map(|c| find(c)).collect();
    let id = spec.id_column().map(&mut find);
    let label = names.iter().position(|n| n == spec.label_column());
    if label.is_none() && need_labels {
        missing.push(spec.label_column().to_string());
    }
    if !missing.is_empty() {
        return Err(DatasetError::MissingColumns {
            path: path.to_path_buf(),
            missing: format!("no column {}", missing.join(", ")),
            expected: "the feature spec names them".into(),
        });
    }
    Ok(Columns { time, id, label, entities, numbers, texts, names })
}

fn parse_chunk(path: &Path, spec: &Spec, c: &Columns, bytes: &[u8], first_line: u64) -> Result<Chunk, DatasetError> {
    let mut chunk = Chunk { key_names: vec![Vec::new(); c.entities.len()], ..Chunk::default() };
    let mut index: Vec<HashMap<Box<str>, u32>> = vec![HashMap::new(); c.entities.len()];
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut line = first_line;
    let bad = |line: u64, col: usize, value: &[u8], what: &str| DatasetError::Columns {
        path: path.to_path_buf(),
        what: format!("line {line}, column {}: {:?} {what}", c.names[col], String::from_utf8_lossy(value)),
    };
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(source) => return Err(DatasetError::Read { path: path.to_path_buf(), line, source }),
        }
        if record.len() == 1 && record[0].trim_ascii().is_empty() {
            line += 1;
            continue;
        }
        if record.len() != c.names.len() {
            return Err(DatasetError::Width {
                path: path.to_path_buf(),
                line,
                expected: c.names.len(),
                found: record.len(),
            });
        }
        let cell = &record[c.time];
        let Some(time) = spec.time_of_cell(cell) else {
            return Err(bad(
                line,
                c.time,
                cell,
                "is not a time (RFC 3339, YYYY-MM-DD HH:MM:SS, or seconds since 1970)",
            ));
        };
        chunk.times.push(time);
        if let Some(l) = c.label {
            let Some(fraud) = parse_class(&record[l]) else {
                return Err(DatasetError::BadClass {
                    path: path.to_path_buf(),
                    line,
                    column: c.names[l].clone(),
                    value: String::from_utf8_lossy(&record[l]).into_owned(),
                });
            };
            chunk.labels.push(fraud);
        }
        if let Some(i) = c.id {
            chunk.ids.push(String::from_utf8_lossy(record[i].trim_ascii()).into_owned());
        }
        for (e, &col) in c.entities.iter().enumerate() {
            let text = String::from_utf8_lossy(&record[col]);
            let key = category_text(&text);
            let k = if key.is_empty() {
                u32::MAX
            } else if let Some(&k) = index[e].get(&*key) {
                k
            } else {
                let k = chunk.key_names[e].len() as u32;
                chunk.key_names[e].push(Box::from(&*key));
                index[e].insert(Box::from(&*key), k);
                k
            };
            chunk.keys.push(k);
        }
        for &col in &c.numbers {
            let cell = &record[col];
            let v = if cell.trim_ascii().is_empty() {
                f64::NAN
            } else {
                parse_cell(cell).map_err(|_| bad(line, col, cell, "is not a finite number"))?
            };
            chunk.numbers.push(v);
        }
        for &col in &c.texts {
            chunk.texts.push(text_hash(&category_text(&String::from_utf8_lossy(&record[col]))));
        }
        line += 1;
    }
    Ok(chunk)
}
