//! Which input offsets may be stored: a message's offset is stored only once its output and
//! the outputs of every earlier message of its partition are delivered, so a commit never
//! covers a message whose result could still be lost.

use std::collections::{HashMap, VecDeque};

#[derive(Debug, Default)]
pub struct OffsetTracker {
    partitions: HashMap<i32, VecDeque<(i64, bool)>>,
    /// Entries not yet delivered, kept as a count: the loop asks on every turn.
    in_flight: usize,
}

impl OffsetTracker {
    /// A message was taken from `partition` and its output sent.
    pub fn started(&mut self, partition: i32, offset: i64) {
        self.partitions.entry(partition).or_default().push_back((offset, false));
        self.in_flight += 1;
    }

    /// Its output was delivered. Returns the offset that may now be stored (the last of the
    /// delivered prefix of the partition), if it moved.
    pub fn delivered(&mut self, partition: i32, offset: i64) -> Option<i64> {
        let queue = self.partitions.get_mut(&partition)?;
        let i = queue.binary_search_by_key(&offset, |(o, _)| *o).ok()?;
        if queue[i].1 {
            return None;
        }
        queue[i].1 = true;
        self.in_flight -= 1;
        let mut storable = None;
        while let Some(&(o, true)) = queue.front() {
            storable = Some(o);
            queue.pop_front();
        }
        storable
    }

    /// Messages whose outputs are not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub fn is_idle(&self) -> bool {
        self.partitions.values().all(VecDeque::is_empty)
    }

    /// Forgets a partition that was taken away; its undelivered messages will be read again by
    /// the new owner from the last committed offset.
    pub fn forget(&mut self, partition: i32) -> usize {
        let dropped = self.partitions.remove(&partition).map_or(0, |q| q.iter().filter(|(_, d)| !d).count());
        self.in_flight -= dropped;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_only_the_delivered_prefix() {
        let mut t = OffsetTracker::default();
        for o in 10..14 {
            t.started(0, o);
        }
        assert_eq!(t.delivered(0, 12), None); // 10 and 11 still out
        assert_eq!(t.delivered(0, 10), Some(10));
        assert_eq!(t.in_flight(), 2);
        assert_eq!(t.delivered(0, 11), Some(12)); // 11 completes the run to 12
        assert_eq!(t.delivered(0, 13), Some(13));
        assert!(t.is_idle());
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn partitions_are_independent() {
        let mut t = OffsetTracker::default();
        t.started(0, 5);
        t.started(1, 7);
        assert_eq!(t.delivered(1, 7), Some(7));
        assert_eq!(t.in_flight(), 1);
        assert_eq!(t.forget(0), 1);
        assert!(t.is_idle());
        assert_eq!(t.delivered(0, 5), None, "a forgotten partition stores nothing");
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_repeated_report_counts_once() {
        let mut t = OffsetTracker::default();
        t.started(0, 1);
        t.started(0, 2);
        assert_eq!(t.delivered(0, 2), None);
        assert_eq!(t.delivered(0, 2), None);
        assert_eq!(t.in_flight(), 1);
    }
}
