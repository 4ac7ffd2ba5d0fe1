//! `fraud features`: a file's point-in-time features as CSV, the id first and the label last,
//! rows in file order; an undefined value is an empty cell. What a model trained with the spec
//! sees, for a notebook or another tool.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::offline::compute;
use super::spec::Spec;
use crate::dataset::DatasetError;

#[derive(Debug, Clone)]
pub struct FeaturesConfig {
    pub data: PathBuf,
    pub spec: Arc<Spec>,
    /// `-` for stdout.
    pub out: PathBuf,
    /// Rows written: at or after `from`, before `to` (ms since the epoch); all rows are history.
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub progress: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    #[error("writing {path}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// Computes and writes; returns the rows written.
pub fn export(cfg: &FeaturesConfig) -> Result<usize, ExportError> {
    let computed = compute(&cfg.data, &cfg.spec, false, cfg.progress)?;
    let write_err = |source| ExportError::Write { path: cfg.out.clone(), source };
    let sink: Box<dyn Write> = if cfg.out == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&cfg.out).map_err(write_err)?)
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, sink);
    let spec = &cfg.spec;
    let mut header: Vec<&str> = Vec::new();
    if computed.ids.is_some() {
        header.extend(spec.id_column());
    }
    header.extend(spec.names());
    if computed.labels.is_some() {
        header.push(spec.label_column());
    }
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(&header).map_err(|e| write_err(e.into()))?;
    out.write_all(&w.into_inner().map_err(|e| write_err(e.into_error()))?).map_err(write_err)?;
    let mut line: Vec<u8> = Vec::with_capacity(512);
    let mut numbers = ryu::Buffer::new();
    let mut written = 0;
    for i in 0..computed.len() {
        let t = computed.times[i];
        if cfg.from.is_some_and(|f| t < f) || cfg.to.is_some_and(|to| t >= to) {
            continue;
        }
        line.clear();
        if let Some(ids) = &computed.ids {
            write_text(&mut line, &ids[i]);
            line.push(b',');
        }
        for (j, v) in computed.features.row(i).iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            if v.is_finite() {
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    let _ = write!(line, "{}", *v as i64);
                } else {
                    line.extend_from_slice(numbers.format_finite(*v).as_bytes());
                }
            }
        }
        if let Some(labels) = &computed.labels {
            line.extend_from_slice(if labels[i] { b",1" } else { b",0" });
        }
        line.push(b'\n');
        out.write_all(&line).map_err(write_err)?;
        written += 1;
    }
    out.flush().map_err(write_err)?;
    Ok(written)
}

/// A cell as CSV wants it: quoted when it holds a comma, a quote or a line break.
fn write_text(line: &mut Vec<u8>, text: &str) {
    if text.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) {
        line.push(b'"');
        line.extend_from_slice(text.replace('"', "\"\"").as_bytes());
        line.push(b'"');
    } else {
        line.extend_from_slice(text.as_bytes());
    }
}
