//! What `--exit-at-end` waits for: the group's committed offsets at the end of every partition
//! of the topic, not only of this process's assignment. A member killed a moment ago still holds
//! its partitions until its session times out; a process that stopped at the end of its own
//! partitions would report a topic done that is not.
//!
//! A partition is processed to its end when no record a member would read (`read_committed`)
//! lies at or past the group's committed offset. That is checked by reading, not by comparing
//! with the high watermark: after a transactional producer the log ends in a commit marker that
//! no consumer ever commits past.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::stream::client::{ClientErrors, KafkaConfig, Quiet};

/// Bound on each question to the broker; a check that runs out is tried again later.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the group's progress is checked while this process has nothing left to do, and
/// how soon after this process last had work.
const CHECK_EVERY: Duration = Duration::from_secs(1);
const CHECK_AFTER_WORK: Duration = Duration::from_millis(100);
/// How often the wait is logged.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// A partition the group has not processed to its end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behind {
    pub partition: i32,
    /// The first record the group has not processed.
    pub next: i64,
}

/// The partitions left, for a message: `2 (from offset 9805), 3 (from offset 9918)`.
pub fn describe(behind: &[Behind]) -> String {
    let parts: Vec<String> = behind.iter().map(|b| format!("{} (from offset {})", b.partition, b.next)).collect();
    parts.join(", ")
}

/// Where [`ExitAtEnd`] learns the group's progress.
pub trait Progress {
    /// The partitions of the topic the group has not processed to their end; Err when that
    /// could not be learnt.
    fn behind(&self) -> Result<Vec<Behind>, String>;
    fn topic(&self) -> &str;
}

/// Reads the group's progress on a topic with a consumer of its own.
pub struct GroupProgress {
    probe: BaseConsumer<Quiet>,
    topic: String,
}

impl GroupProgress {
    pub fn new(kafka: &KafkaConfig, group: &str, topic: &str, errors: ClientErrors) -> Result<Self, KafkaError> {
        let probe = kafka.probe(group).create_with_context(Quiet(errors))?;
        Ok(Self { probe, topic: topic.to_string() })
    }

    /// The partitions of the topic holding a record at or past the group's committed offset
    /// (from the beginning, where the group committed nothing). Err when that could not be
    /// learnt in time, or the topic does not exist.
    fn probe(&self) -> Result<Vec<Behind>, String> {
        let metadata =
            self.probe.fetch_metadata(Some(&self.topic), ASK_TIMEOUT).map_err(|e| format!("reading metadata: {e}"))?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == self.topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if partitions.is_empty() {
            return Err(format!("topic {} does not exist", self.topic));
        }
        let mut tpl = TopicPartitionList::with_capacity(partitions.len());
        for &p in &partitions {
            tpl.add_partition(&self.topic, p);
        }
        let committed = self
            .probe
            .committed_offsets(tpl, ASK_TIMEOUT)
            .map_err(|e| format!("reading the committed offsets: {e}"))?;
        let mut start = TopicPartitionList::with_capacity(partitions.len());
        for e in committed.elements() {
            let offset = match e.offset() {
                Offset::Offset(o) => Offset::Offset(o),
                _ => Offset::Beginning,
            };
            start.add_partition_offset(&self.topic, e.partition(), offset).map_err(|e| e.to_string())?;
        }
        self.probe.assign(&start).map_err(|e| format!("assigning the probe: {e}"))?;
        let result = self.read_first_records(partitions.len());
        // Nothing to fetch while the loop is busy elsewhere.
        let _ = self.probe.unassign();
        result
    }

    /// Polls until every assigned partition shows a record or its end.
    fn read_first_records(&self, partitions: usize) -> Result<Vec<Behind>, String> {
        let deadline = Instant::now() + ASK_TIMEOUT;
        let mut settled: HashSet<i32> = HashSet::new();
        let mut behind = BTreeMap::new();
        while settled.len() < partitions {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} of {partitions} partitions did not answer within {ASK_TIMEOUT:?}",
                    partitions - settled.len()
                ));
            }
            match self.probe.poll(Duration::from_millis(50)) {
                None => {}
                Some(Ok(m)) if settled.insert(m.partition()) => {
                    behind.insert(m.partition(), m.offset());
                }
                Some(Ok(_)) => {}
                Some(Err(KafkaError::PartitionEOF(p))) => {
                    settled.insert(p);
                }
                Some(Err(e)) => return Err(format!("reading: {e}")),
            }
        }
        Ok(behind.into_iter().map(|(partition, next)| Behind { partition, next }).collect())
    }
}

impl Progress for GroupProgress {
    fn behind(&self) -> Result<Vec<Behind>, String> {
        self.probe()
    }

    fn topic(&self) -> &str {
        &self.topic
    }
}

/// What the loop should do about `--exit-at-end` now.
#[derive(Debug, PartialEq, Eq)]
pub enum AtEnd {
    /// Keep consuming: the group is not done, or it is not time to ask again.
    Wait,
    /// Every partition is processed to its end.
    Done,
    /// Waited `--exit-timeout` with nothing to do here; what was left, or why it is unknown.
    GaveUp(String),
}

/// `--exit-at-end`: asks, while this process has nothing left to do, whether the group has
/// processed the whole topic; gives up after the exit timeout of such waiting.
pub struct ExitAtEnd<P: Progress = GroupProgress> {
    progress: P,
    timeout: Duration,
    /// Since when this process has had nothing to do while the topic was not done.
    idle_since: Option<Instant>,
    last_check: Option<Instant>,
    /// Whether this process had work since the last check.
    worked: bool,
    last_log: Option<Instant>,
    /// What the last check found left, for the give-up message.
    left: String,
}

impl<P: Progress> ExitAtEnd<P> {
    pub fn new(progress: P, timeout: Duration) -> Self {
        Self {
            progress,
            timeout,
            idle_since: None,
            last_check: None,
            worked: false,
            last_log: None,
            left: String::new(),
        }
    }

    /// Work arrived: the wait starts over.
    pub fn busy(&mut self) {
        self.idle_since = None;
        self.worked = true;
    }

    /// Whether a check is due (the caller makes its own offsets durable first).
    pub fn due(&self) -> bool {
        let every = if self.worked { CHECK_AFTER_WORK } else { CHECK_EVERY };
        self.last_check.is_none_or(|t| t.elapsed() >= every)
    }

    /// Whether the group had processed the topic before this process joined it: then there is
    /// nothing to join for. Quiet, and no wait starts.
    pub fn done_before_start(&mut self) -> bool {
        self.last_check = Some(Instant::now());
        matches!(self.progress.behind(), Ok(behind) if behind.is_empty())
    }

    /// Checks the group's progress; `assigned` is this process's assignment, for the log.
    pub fn check(&mut self, assigned: &HashSet<i32>) -> AtEnd {
        let now = Instant::now();
        self.last_check = Some(now);
        self.worked = false;
        let idle_since = *self.idle_since.get_or_insert(now);
        match self.progress.behind() {
            Ok(behind) if behind.is_empty() => {
                tracing::info!(topic = %self.progress.topic(), "every partition is processed to its end");
                return AtEnd::Done;
            }
            Ok(behind) => {
                let elsewhere: Vec<i32> =
                    behind.iter().map(|b| b.partition).filter(|p| !assigned.contains(p)).collect();
                if self.last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    self.last_log = Some(now);
                    tracing::info!(
                        topic = %self.progress.topic(),
                        behind = %describe(&behind),
                        held_elsewhere = ?elsewhere,
                        "exit at end: waiting for the group to process every partition; a partition held by a member \
                         that is gone comes here once that member's session times out (session.timeout.ms)"
                    );
                }
                self.left = format!("partitions {} are not processed to their end", describe(&behind));
            }
            Err(e) => {
                tracing::warn!(code = "progress_unknown", error = %e, "exit at end: the group's progress is unknown for now");
                self.left = format!("the group's progress is unknown ({e})");
            }
        }
        if now.duration_since(idle_since) >= self.timeout {
            return AtEnd::GaveUp(std::mem::take(&mut self.left));
        }
        AtEnd::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Progress as a test scripts it: each check takes the next answer.
    struct Scripted(RefCell<Vec<Result<Vec<Behind>, String>>>);

    impl Progress for Scripted {
        fn behind(&self) -> Result<Vec<Behind>, String> {
            self.0.borrow_mut().remove(0)
        }

        fn topic(&self) -> &str {
            "t"
        }
    }

    fn behind(parts: &[(i32, i64)]) -> Result<Vec<Behind>, String> {
        Ok(parts.iter().map(|&(partition, next)| Behind { partition, next }).collect())
    }

    fn exit(answers: Vec<Result<Vec<Behind>, String>>, timeout: Duration) -> ExitAtEnd<Scripted> {
        ExitAtEnd::new(Scripted(RefCell::new(answers)), timeout)
    }

    #[test]
    fn done_when_nothing_is_behind() {
        let mut e = exit(vec![behind(&[(2, 9805)]), behind(&[])], Duration::from_secs(60));
        let mine = HashSet::from([0, 1]);
        assert_eq!(e.check(&mine), AtEnd::Wait);
        assert_eq!(e.check(&mine), AtEnd::Done);
    }

    #[test]
    fn gives_up_after_the_timeout_naming_what_is_left() {
        let mut e = exit(vec![behind(&[(2, 9805), (3, 9918)])], Duration::ZERO);
        assert_eq!(
            e.check(&HashSet::new()),
            AtEnd::GaveUp(
                "partitions 2 (from offset 9805), 3 (from offset 9918) are not processed to their end".into()
            )
        );
        let mut e = exit(vec![Err("reading metadata: timed out".into())], Duration::ZERO);
        assert_eq!(
            e.check(&HashSet::new()),
            AtEnd::GaveUp("the group's progress is unknown (reading metadata: timed out)".into())
        );
    }

    #[test]
    fn work_here_starts_the_wait_over() {
        let timeout = Duration::from_millis(30);
        let mut e = exit(vec![behind(&[(1, 5)]), behind(&[(1, 5)]), behind(&[(1, 5)])], timeout);
        assert_eq!(e.check(&HashSet::new()), AtEnd::Wait);
        std::thread::sleep(timeout + Duration::from_millis(10));
        e.busy();
        assert_eq!(e.check(&HashSet::new()), AtEnd::Wait, "the wait counts from the last work");
        std::thread::sleep(timeout + Duration::from_millis(10));
        assert!(matches!(e.check(&HashSet::new()), AtEnd::GaveUp(_)));
    }

    #[test]
    fn a_check_is_due_soon_after_work_and_seldom_while_idle() {
        let mut e = exit(vec![behind(&[(1, 5)])], Duration::from_secs(60));
        assert!(e.due(), "the first check is due at once");
        let _ = e.check(&HashSet::new());
        assert!(!e.due(), "not again at once while idle");
        e.busy();
        std::thread::sleep(CHECK_AFTER_WORK);
        assert!(e.due(), "soon after work");
    }
}
