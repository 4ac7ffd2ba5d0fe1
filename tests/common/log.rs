//! A reader of a topic's raw log that applies Kafka's `read_committed` rule itself, from the
//! transaction markers in the log: a record written in a transaction is visible once the
//! marker that ends its producer's transaction says COMMIT, and never when it says ABORT.
//!
//! Why by hand: a `read_committed` client (librdkafka, the Java one) filters aborted records
//! with the list of aborted transactions that each fetch response carries. The broker the
//! tests run on here (Tansu 0.6) always sends that list empty, though it writes the markers:
//! librdkafka then shows aborted records to a `read_committed` reader. No client library
//! exposes the markers, so this speaks just enough of the protocol to read them: Fetch v4 and
//! record batches v2, uncompressed (what our producers write).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::Record;

/// What the log of one topic holds, by the read_committed rule.
pub struct CommittedView {
    /// Records outside transactions and records of committed transactions.
    pub visible: Vec<Record>,
    /// Records of aborted transactions.
    pub aborted: usize,
    /// Records of transactions with no marker yet (still open).
    pub open: usize,
}

/// Reads every partition of `topic` (`partitions` of them) from the beginning to its end.
pub fn committed_view(brokers: &str, topic: &str, partitions: i32) -> CommittedView {
    let addr = brokers.split(',').next().expect("a broker address");
    let mut conn = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    conn.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut view = CommittedView { visible: Vec::new(), aborted: 0, open: 0 };
    for partition in 0..partitions {
        let mut batches = Vec::new();
        let mut offset = 0i64;
        loop {
            let (high_watermark, fetched) = fetch(&mut conn, topic, partition, offset);
            let Some(last) = fetched.last() else { break };
            offset = last.base_offset + i64::from(last.last_offset_delta) + 1;
            batches.extend(fetched);
            if offset >= high_watermark {
                break;
            }
        }
        apply_markers(partition, batches, &mut view);
    }
    view
}

type RawRecord = (i64, Option<Vec<u8>>, Vec<u8>, Vec<(String, Vec<u8>)>);

struct Batch {
    base_offset: i64,
    last_offset_delta: i32,
    producer_id: i64,
    transactional: bool,
    /// For a control batch: true for COMMIT, false for ABORT.
    marker: Option<bool>,
    /// Offset, key, payload, headers.
    records: Vec<RawRecord>,
}

fn apply_markers(partition: i32, batches: Vec<Batch>, view: &mut CommittedView) {
    let mut pending: std::collections::HashMap<i64, Vec<Record>> = std::collections::HashMap::new();
    for b in batches {
        if let Some(commit) = b.marker {
            let records = pending.remove(&b.producer_id).unwrap_or_default();
            if commit {
                view.visible.extend(records);
            } else {
                view.aborted += records.len();
            }
            continue;
        }
        let records = b.records.into_iter().map(|(offset, key, payload, headers)| Record {
            partition,
            offset,
            key: key.map(|k| String::from_utf8_lossy(&k).into_owned()),
            payload,
            headers: headers.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect(),
        });
        if b.transactional {
            pending.entry(b.producer_id).or_default().extend(records);
        } else {
            view.visible.extend(records);
        }
    }
    view.open += pending.values().map(Vec::len).sum::<usize>();
}

/// One Fetch v4 (read_uncommitted) of one partition: its high watermark and whole batches.
fn fetch(conn: &mut TcpStream, topic: &str, partition: i32, offset: i64) -> (i64, Vec<Batch>) {
    let mut body = Vec::new();
    body.extend(1i16.to_be_bytes()); // api key: Fetch
    body.extend(4i16.to_be_bytes()); // version
    body.extend(7i32.to_be_bytes()); // correlation id
    put_string(&mut body, "fraud-tests");
    body.extend((-1i32).to_be_bytes()); // replica id
    // Tansu answers a fetch with no wait and no minimum with no topics at all.
    body.extend(100i32.to_be_bytes()); // max wait ms
    body.extend(1i32.to_be_bytes()); // min bytes
    body.extend((8i32 << 20).to_be_bytes()); // max bytes
    body.push(0); // isolation: read_uncommitted, markers and all
    body.extend(1i32.to_be_bytes());
    put_string(&mut body, topic);
    body.extend(1i32.to_be_bytes());
    body.extend(partition.to_be_bytes());
    body.extend(offset.to_be_bytes());
    body.extend((8i32 << 20).to_be_bytes());
    conn.write_all(&(body.len() as i32).to_be_bytes()).unwrap();
    conn.write_all(&body).unwrap();

    let mut len = [0u8; 4];
    conn.read_exact(&mut len).unwrap();
    let mut resp = vec![0u8; i32::from_be_bytes(len) as usize];
    conn.read_exact(&mut resp).unwrap();
    let mut r = Cursor(&resp);
    assert_eq!(r.i32(), 7, "correlation id");
    r.i32(); // throttle
    assert_eq!(r.i32(), 1, "one topic");
    r.string();
    assert_eq!(r.i32(), 1, "one partition");
    assert_eq!(r.i32(), partition);
    let error = r.i16();
    assert_eq!(error, 0, "fetch error {error} on {topic}/{partition}");
    let high_watermark = r.i64();
    r.i64(); // last stable offset
    let aborted = r.i32();
    for _ in 0..aborted.max(0) {
        r.i64();
        r.i64();
    }
    let size = r.i32();
    let records = if size > 0 { r.take(size as usize) } else { &[][..] };
    (high_watermark, batches(records))
}

fn batches(mut data: &[u8]) -> Vec<Batch> {
    let mut out = Vec::new();
    while data.len() >= 12 {
        let mut r = Cursor(data);
        let base_offset = r.i64();
        let length = r.i32() as usize;
        if data.len() < 12 + length {
            break; // a partial batch at the end of the response
        }
        let mut b = Cursor(&data[12..12 + length]);
        data = &data[12 + length..];
        b.i32(); // leader epoch
        assert_eq!(b.take(1)[0], 2, "record batch v2");
        b.i32(); // crc
        let attributes = b.i16();
        assert_eq!(attributes & 7, 0, "compressed batches are not read here");
        let last_offset_delta = b.i32();
        b.i64();
        b.i64();
        let producer_id = b.i64();
        b.i16();
        b.i32();
        let count = b.i32();
        let mut records = Vec::new();
        for _ in 0..count {
            b.varint(); // length
            b.take(1);
            b.varint(); // timestamp delta
            let offset_delta = b.varint();
            let key = b.bytes();
            let value = b.bytes().unwrap_or_default();
            let headers = (0..b.varint())
                .map(|_| {
                    (
                        String::from_utf8_lossy(&b.bytes().unwrap_or_default()).into_owned(),
                        b.bytes().unwrap_or_default(),
                    )
                })
                .collect();
            records.push((base_offset + offset_delta, key, value, headers));
        }
        let control = attributes & 0x20 != 0;
        let marker = control.then(|| {
            let key = records.first().and_then(|r| r.1.clone()).expect("a control record has a key");
            i16::from_be_bytes([key[2], key[3]]) == 1
        });
        out.push(Batch {
            base_offset,
            last_offset_delta,
            producer_id,
            transactional: attributes & 0x10 != 0,
            marker,
            records,
        });
    }
    out
}

fn put_string(buf: &mut Vec<u8>, s: &str) {
    buf.extend((s.len() as i16).to_be_bytes());
    buf.extend(s.as_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }
    fn i16(&mut self) -> i16 {
        i16::from_be_bytes(self.take(2).try_into().unwrap())
    }
    fn i32(&mut self) -> i32 {
        i32::from_be_bytes(self.take(4).try_into().unwrap())
    }
    fn i64(&mut self) -> i64 {
        i64::from_be_bytes(self.take(8).try_into().unwrap())
    }
    fn string(&mut self) -> String {
        let n = self.i16();
        String::from_utf8_lossy(self.take(n.max(0) as usize)).into_owned()
    }
    /// A zigzag varint, as record fields are written.
    fn varint(&mut self) -> i64 {
        let (mut value, mut shift) = (0u64, 0);
        loop {
            let byte = self.take(1)[0];
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        (value >> 1) as i64 ^ -((value & 1) as i64)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.varint();
        (n >= 0).then(|| self.take(n as usize).to_vec())
    }
}
