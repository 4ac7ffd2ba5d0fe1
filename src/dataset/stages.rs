//! The reading stages of a text file, each on its own thread so they overlap: the file's bytes
//! are read and hashed; then cut into blocks of whole lines (a gzip file is first decompressed
//! whole, by libdeflate). The blocks go on to the parsers.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use flate2::read::MultiGzDecoder;
use indicatif::{ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use super::error::DatasetError;
use super::gunzip;

/// Size of the blocks passed between the reading stages.
pub(super) const BLOCK: usize = 1 << 20;

/// A run of whole lines and where it stands in the file.
pub(super) struct Block {
    pub seq: usize,
    /// 1-based line number of its first line.
    pub first_line: u64,
    pub bytes: Vec<u8>,
}

/// The running stages: `finish` them once their blocks are taken.
pub(super) struct Stages {
    path: PathBuf,
    bar: ProgressBar,
    reader: JoinHandle<io::Result<()>>,
    splitter: JoinHandle<io::Result<()>>,
    hasher: JoinHandle<String>,
}

impl Stages {
    /// Waits for the stages; returns the sha256 of the file's bytes as stored. A broken stream
    /// is reported here, and explains whatever the parser made of the pieces, so it goes first.
    pub fn finish(self) -> Result<String, DatasetError> {
        self.bar.finish_and_clear();
        let split_result = self.splitter.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let read_result = self.reader.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        let sha256 = self.hasher.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        split_result.map_err(|source| DatasetError::Decode { path: self.path.clone(), source })?;
        read_result.map_err(|source| DatasetError::Open { path: self.path.clone(), source })?;
        Ok(sha256)
    }
}

/// Starts the stages on `path` (gzip is detected from the content, not the name); the blocks
/// come out of the receiver, which the parser drops when it stops early, so the stages stop
/// too. `progress` shows a bar on stderr when stderr is a terminal.
pub(super) fn start(path: &Path, progress: bool) -> Result<(mpsc::Receiver<Block>, Stages), DatasetError> {
    let open_err = |source| DatasetError::Open { path: path.to_path_buf(), source };
    let mut file = File::open(path).map_err(open_err)?;
    let size = file.metadata().map_err(open_err)?.len();
    let bar = if progress { ProgressBar::new(size) } else { ProgressBar::hidden() };
    bar.set_style(
        ProgressStyle::with_template("reading {msg} {wide_bar} {bytes}/{total_bytes} {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(path.display().to_string());

    // The hash runs on its own thread, so a gzip file reaches the decompressor at the speed of
    // the disk (or page cache), and is hashed while it is decompressed.
    let (raw_tx, raw_rx) = mpsc::sync_channel::<Arc<Vec<u8>>>(8);
    let (hash_tx, hash_rx) = mpsc::channel::<Arc<Vec<u8>>>();
    let reader_bar = bar.clone();
    let started = Instant::now();
    let hasher = thread::spawn(move || {
        let mut digest = Sha256::new();
        for block in hash_rx {
            digest.update(&block[..]);
        }
        tracing::debug!(stage = "hash", seconds = started.elapsed().as_secs_f64(), "read stage done");
        format!("{:x}", digest.finalize())
    });
    let reader = thread::spawn(move || -> io::Result<()> {
        loop {
            let mut block = vec![0; BLOCK];
            let n = read_full(&mut file, &mut block)?;
            if n == 0 {
                break;
            }
            block.truncate(n);
            reader_bar.inc(n as u64);
            let block = Arc::new(block);
            // The hasher outlives the reader; a send error cannot happen while it runs.
            let _ = hash_tx.send(Arc::clone(&block));
            if raw_tx.send(block).is_err() {
                break; // the parser stopped early (a bad row)
            }
        }
        tracing::debug!(stage = "read", seconds = started.elapsed().as_secs_f64(), "read stage done");
        Ok(())
    });
    let (lines_tx, lines_rx) = mpsc::sync_channel::<Block>(8);
    let splitter = thread::spawn(move || -> io::Result<()> {
        let mut raw = BlockReader { rx: raw_rx, block: Arc::new(Vec::new()), pos: 0 };
        let gzip = raw.starts_with_gzip_magic();
        let mut input: Box<dyn Read> = if gzip {
            let mut compressed = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            raw.read_to_end(&mut compressed)?;
            let t = Instant::now();
            match gunzip::gunzip(&compressed) {
                Some(text) => {
                    tracing::debug!(stage = "gunzip", seconds = t.elapsed().as_secs_f64(), "read stage done");
                    Box::new(io::Cursor::new(text))
                }
                // Not whole gzip: the streaming decoder reads as far as it can and says why it stops.
                None => Box::new(MultiGzDecoder::new(io::Cursor::new(compressed))),
            }
        } else {
            Box::new(raw)
        };
        let mut carry: Vec<u8> = Vec::new();
        let (mut seq, mut first_line) = (0usize, 1u64);
        let mut send = |bytes: Vec<u8>| {
            let lines = memchr::memchr_iter(b'\n', &bytes).count() as u64;
            let block = Block { seq, first_line, bytes };
            seq += 1;
            first_line += lines;
            lines_tx.send(block).is_ok()
        };
        loop {
            let mut block = std::mem::take(&mut carry);
            let start = block.len();
            block.resize(start + BLOCK, 0);
            let n = read_full(&mut input, &mut block[start..])?;
            block.truncate(start + n);
            if n == 0 {
                if !block.is_empty() {
                    send(block);
                }
                tracing::debug!(stage = "split", seconds = started.elapsed().as_secs_f64(), "read stage done");
                return Ok(());
            }
            // Keep the partial last line for the next block.
            if let Some(last) = memchr::memrchr(b'\n', &block) {
                carry = block[last + 1..].to_vec();
                block.truncate(last + 1);
            } else {
                carry = block;
                continue;
            }
            if !send(block) {
                return Ok(());
            }
        }
    });
    Ok((lines_rx, Stages { path: path.to_path_buf(), bar, reader, splitter, hasher }))
}

/// Reads until `buf` is full or the input ends.
pub(super) fn read_full<R: Read + ?Sized>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The raw blocks of the reading stage, as a `Read`.
struct BlockReader {
    rx: mpsc::Receiver<Arc<Vec<u8>>>,
    block: Arc<Vec<u8>>,
    pos: usize,
}

impl BlockReader {
    fn fill(&mut self) -> bool {
        while self.pos >= self.block.len() {
            match self.rx.recv() {
                Ok(b) => {
                    self.block = b;
                    self.pos = 0;
                }
                Err(_) => return false,
            }
        }
        true
    }

    fn starts_with_gzip_magic(&mut self) -> bool {
        self.fill() && self.block.len() >= 2 && self.block[0] == 0x1f && self.block[1] == 0x8b
    }
}

impl Read for BlockReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.fill() {
            return Ok(0);
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
