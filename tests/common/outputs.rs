//! Each input's outputs, for the guarantees: at least once (every input scored, by key) and
//! exactly once (each input's one output, by the source it names, as a `read_committed` reader
//! sees it: by the log's markers, and by a client where the broker lets one filter).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use super::log::committed_view;
use super::{
    Record, broker_hides_aborted_records, consume_args, read_topic_at, read_topic_if_exists, topic_partitions,
};

/// `fraud consume --exactly-once` args for a test, as process `instance` of the group.
pub fn eos_args(topic: &str, group: &str, model_dir: &Path, instance: &str, extra: &[&str]) -> Vec<String> {
    let mut args = consume_args(topic, group, model_dir);
    args.extend(["--exactly-once", "--instance-id", instance, "--quiet"].iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `fraud consume --exactly-once` args with the default identity (a state-directory slot).
pub fn eos_default_args(topic: &str, group: &str, model_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = consume_args(topic, group, model_dir);
    args.extend(["--exactly-once", "--quiet"].iter().chain(extra).map(|s| s.to_string()));
    args
}

/// Bad inputs, one per error kind the consumer dead-letters.
pub fn bad_inputs(n: usize) -> Vec<(String, Vec<u8>)> {
    let kinds: [&[u8]; 3] = [b"{not json", br#"{"rows": []}"#, br#"{"columns": ["V1"], "data": [[NaN]]}"#];
    (0..n).map(|i| (format!("bad-{i}-{}", uuid::Uuid::new_v4().simple()), kinds[i % kinds.len()].to_vec())).collect()
}

/// At least once, by key: every input of `topic` has a score record, and every score record is
/// an input's. Returns (inputs, score records, score records beyond one per input key).
pub fn assert_all_scored(brokers: &str, topic: &str) -> (usize, usize, usize) {
    // Outputs first: every input they name was written before them.
    let scores = read_topic_at(brokers, &format!("{topic}-scores"));
    let inputs = read_topic_at(brokers, topic);
    let scored: HashSet<_> = scores.iter().map(|r| r.key.clone()).collect();
    let keys: HashSet<_> = inputs.iter().map(|r| r.key.clone()).collect();
    let missing: Vec<_> = inputs.iter().filter(|r| !scored.contains(&r.key)).map(|r| (r.partition, r.offset)).collect();
    assert!(
        missing.is_empty(),
        "{} inputs of {topic} without a score record, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    let strays: Vec<_> = scored.difference(&keys).take(5).collect();
    assert!(strays.is_empty(), "score records keyed as no input of {topic}: {strays:?}");
    (inputs.len(), scores.len(), scores.len() - scored.len())
}

/// What a read_committed reader of the outputs saw, against the inputs.
pub struct Outputs {
    pub inputs: usize,
    pub scores: usize,
    pub dead_letters: usize,
    /// Inputs with more than one output, and with none.
    pub duplicated: Vec<(i32, i64)>,
    pub missing: Vec<(i32, i64)>,
    /// Output records in aborted transactions, and in transactions still open.
    pub aborted: usize,
    pub open: usize,
}

impl std::fmt::Debug for Outputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let head = |v: &[(i32, i64)]| v[..v.len().min(5)].to_vec();
        write!(
            f,
            "{} inputs, {} score records, {} dead letters; {} inputs with more than one output (e.g. {:?}), {} with none \
             (e.g. {:?}); outputs in aborted transactions {}, in open ones {}",
            self.inputs,
            self.scores,
            self.dead_letters,
            self.duplicated.len(),
            head(&self.duplicated),
            self.missing.len(),
            head(&self.missing),
            self.aborted,
            self.open
        )
    }
}

impl Outputs {
    /// Matches outputs to inputs by the source each names; every output must be keyed as its
    /// input.
    pub fn of(inputs: &[Record], scores: &[Record], dead: &[Record]) -> Outputs {
        let mut seen: HashMap<(i32, i64), Vec<Option<String>>> = HashMap::new();
        for r in scores {
            let source = &r.json()["source"];
            let at = (source["partition"].as_i64().unwrap() as i32, source["offset"].as_i64().unwrap());
            seen.entry(at).or_default().push(r.key.clone());
        }
        for r in dead {
            let at = (
                r.headers["fraud.source.partition"].parse().unwrap(),
                r.headers["fraud.source.offset"].parse().unwrap(),
            );
            seen.entry(at).or_default().push(r.key.clone());
        }
        let mut duplicated = Vec::new();
        let mut missing = Vec::new();
        for r in inputs {
            match seen.get(&(r.partition, r.offset)) {
                None => missing.push((r.partition, r.offset)),
                Some(keys) => {
                    for key in keys {
                        assert_eq!(key, &r.key, "an output of {}:{} is not keyed as its input", r.partition, r.offset);
                    }
                    if keys.len() > 1 {
                        duplicated.push((r.partition, r.offset));
                    }
                }
            }
        }
        assert_eq!(seen.len(), inputs.len() - missing.len(), "outputs for inputs that do not exist");
        Outputs {
            inputs: inputs.len(),
            scores: scores.len(),
            dead_letters: dead.len(),
            duplicated,
            missing,
            aborted: 0,
            open: 0,
        }
    }

    /// What a read_committed client (librdkafka) reads. The dead-letter topic may not exist: no
    /// input was bad.
    pub fn client(brokers: &str, topic: &str) -> Outputs {
        // Outputs first: every input they name was written before them.
        let scores = read_topic_at(brokers, &format!("{topic}-scores"));
        let dead = read_topic_if_exists(brokers, &format!("{topic}-dlq")).unwrap_or_default();
        Outputs::of(&read_topic_at(brokers, topic), &scores, &dead)
    }

    /// What the log's transaction markers make visible to a read_committed reader.
    pub fn log(brokers: &str, topic: &str) -> Outputs {
        Outputs::log_so_far(brokers, topic, false)
    }

    /// The same, while the consumer may not have written yet: an output topic that does not
    /// exist counts as empty when `may_be_missing`, and fails the test otherwise. The
    /// dead-letter topic may always be missing: no input was bad.
    fn log_so_far(brokers: &str, topic: &str, may_be_missing: bool) -> Outputs {
        let view = |t: &str, may_be_missing: bool| match topic_partitions(brokers, t) {
            Some(partitions) => committed_view(brokers, t, partitions),
            None if may_be_missing => committed_view(brokers, t, 0),
            None => panic!("{t} does not exist at {brokers}"),
        };
        let (scores, dead) = (view(&format!("{topic}-scores"), may_be_missing), view(&format!("{topic}-dlq"), true));
        let mut out = Outputs::of(&read_topic_at(brokers, topic), &scores.visible, &dead.visible);
        out.aborted = scores.aborted + dead.aborted;
        out.open = scores.open + dead.open;
        out
    }

    pub fn assert_exactly_once(&self) {
        assert!(self.duplicated.is_empty() && self.missing.is_empty(), "not exactly once: {self:?}");
        assert_eq!(self.open, 0, "transactions left open: {self:?}");
    }
}

/// The records of `topic` (which must exist) that the log's markers make visible to a
/// read_committed reader.
pub fn visible_records(brokers: &str, topic: &str) -> Vec<Record> {
    committed_view(brokers, topic, super::partition_count(brokers, topic)).visible
}

/// Waits until every input of `topic` has a visible output, by the log's markers; fails after
/// `within`. Returns what the log showed then.
pub fn wait_for_every_output(brokers: &str, topic: &str, within: Duration) -> Outputs {
    let deadline = Instant::now() + within;
    loop {
        let out = Outputs::log_so_far(brokers, topic, true);
        if out.missing.is_empty() {
            return out;
        }
        assert!(Instant::now() < deadline, "{topic}: inputs still without output after {within:?}: {out:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Waits until the log shows at least `n` visible score records for `topic`'s inputs; fails
/// after `within`.
pub fn wait_for_visible_scores(brokers: &str, topic: &str, n: usize, within: Duration) -> Outputs {
    let deadline = Instant::now() + within;
    loop {
        let out = Outputs::log_so_far(brokers, topic, true);
        if out.scores >= n {
            return out;
        }
        assert!(Instant::now() < deadline, "{topic}: fewer than {n} score records after {within:?}: {out:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The exactly-once check: by the log's markers always, and by a read_committed client where
/// the broker lets a client filter aborted records (the measured reason is printed where not).
pub fn assert_exactly_once(brokers: &str, topic: &str) -> Outputs {
    let log = Outputs::log(brokers, topic);
    eprintln!("{topic}, by the log's markers: {log:?}");
    log.assert_exactly_once();
    match broker_hides_aborted_records(brokers) {
        Ok(()) => Outputs::client(brokers, topic).assert_exactly_once(),
        Err(reason) => {
            eprintln!("read_committed client check skipped on this broker, measured: {reason}")
        }
    }
    log
}
