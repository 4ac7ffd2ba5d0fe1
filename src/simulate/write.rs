//! The CSV of the simulated transactions, in the handbook's columns: to a file (gzip if its name
//! ends in `.gz`) or to stdout for `-`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use chrono::{Days, NaiveDate};
use flate2::Compression;
use flate2::write::GzEncoder;

use super::config::SimulateError;
use super::generate::{SECONDS_PER_DAY, Tx};

pub(super) const HEADER: &str = "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_TIME_SECONDS,\
                                 TX_TIME_DAYS,TX_FRAUD,TX_FRAUD_SCENARIO\n";

/// Rows are formatted into a buffer of about this size before each write.
const CHUNK: usize = 1 << 16;

pub(super) fn write(out: &Path, start: NaiveDate, txs: &[Tx]) -> Result<(), SimulateError> {
    let failed = |source| SimulateError::Write { path: out.to_path_buf(), source };
    if out.as_os_str() == "-" {
        let mut w = BufWriter::new(io::stdout().lock());
        rows(&mut w, start, txs).and_then(|()| w.flush()).map_err(failed)?;
        return Ok(());
    }
    let file = File::create(out).map_err(|source| SimulateError::Create { path: out.to_path_buf(), source })?;
    if out.extension().is_some_and(|e| e == "gz") {
        // Level 6, gzip's default: at the default size (1.8 M rows, 106 MB of CSV) it compresses
        // to 30 MB instead of level 1's 45 MB, for about 3.5 times level 1's time. Compression is
        // most of the run either way (1.7 s in all, 0.5 s for plain CSV).
        let mut gz = GzEncoder::new(BufWriter::new(file), Compression::default());
        rows(&mut gz, start, txs).and_then(|()| gz.finish()?.flush()).map_err(failed)
    } else {
        let mut w = BufWriter::new(file);
        rows(&mut w, start, txs).and_then(|()| w.flush()).map_err(failed)
    }
}

/// The header and the rows; TRANSACTION_ID is the row's position.
pub(super) fn rows(w: &mut impl Write, start: NaiveDate, txs: &[Tx]) -> io::Result<()> {
    // "YYYY-MM-DD " of every day, once: chrono per row would be most of the formatting time.
    let last_day = txs.last().map_or(0, Tx::day);
    let dates = (0..=last_day)
        .map(|d| {
            start
                .checked_add_days(Days::new(d))
                .map(|date| format!("{} ", date.format("%Y-%m-%d")))
                // SimulateConfig::check keeps every day of the run in chrono's range.
                .ok_or_else(|| io::Error::other(format!("day {d} after {start} is out of the calendar")))
        })
        .collect::<io::Result<Vec<String>>>()?;
    let mut buf = Vec::with_capacity(CHUNK + 256);
    buf.extend_from_slice(HEADER.as_bytes());
    for (id, t) in txs.iter().enumerate() {
        let day = t.day();
        let time = t.seconds % SECONDS_PER_DAY;
        number(&mut buf, id as u64);
        buf.push(b',');
        buf.extend_from_slice(dates[day as usize].as_bytes());
        two_digits(&mut buf, time / 3600);
        buf.push(b':');
        two_digits(&mut buf, time / 60 % 60);
        buf.push(b':');
        two_digits(&mut buf, time % 60);
        buf.push(b',');
        number(&mut buf, u64::from(t.customer));
        buf.push(b',');
        number(&mut buf, u64::from(t.terminal));
        buf.push(b',');
        amount(&mut buf, t.cents);
        buf.push(b',');
        number(&mut buf, t.seconds);
        buf.push(b',');
        number(&mut buf, day);
        buf.push(b',');
        buf.push(if t.scenario == 0 { b'0' } else { b'1' });
        buf.push(b',');
        buf.push(b'0' + t.scenario);
        buf.push(b'\n');
        if buf.len() >= CHUNK {
            w.write_all(&buf)?;
            buf.clear();
        }
    }
    w.write_all(&buf)
}

fn number(buf: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

fn two_digits(buf: &mut Vec<u8>, n: u64) {
    buf.extend_from_slice(&[b'0' + (n / 10) as u8, b'0' + (n % 10) as u8]);
}

/// Cents as the handbook's file prints amounts (Python's float repr of a 2-decimal value):
/// 146.0, 87.5, 57.16. Exact, since it is integer arithmetic.
fn amount(buf: &mut Vec<u8>, cents: u64) {
    number(buf, cents / 100);
    buf.push(b'.');
    let c = cents % 100;
    if c.is_multiple_of(10) {
        buf.push(b'0' + (c / 10) as u8);
    } else {
        two_digits(buf, c);
    }
}
