//! A zombie, for both guarantees: one of two consumers of a group frozen (SIGSTOP) past its
//! session timeout while a stream flows, so its partition moves to the other, then thawed
//! (SIGCONT). Exactly once: nothing committed late where the broker fences old generations,
//! and a bounded number of duplicates where it does not. At least once: nothing lost. Slow:
//! `#[ignore]`d, and scripts/test.sh runs them.

mod common;

use std::time::Duration;

use common::*;

/// What one zombie round left: its topic, whether the frozen consumer noticed its stall, and
/// the inputs of the commits it reported as late (partition, first and last offset).
struct ZombieRound {
    topic: String,
    stalled: bool,
    late: Vec<(i32, i64, i64)>,
}

const INPUTS: usize = 4_000;

/// One zombie round: A and B share a 2-partition topic; A is frozen (SIGSTOP) until B has
/// rejoined the group without it, then thawed (SIGCONT).
fn zombie_round(round: usize, exactly_once: bool) -> ZombieRound {
    let Stream { dir, model_dir, topic, group } = Stream::new(&format!("zombie{round}"), Some(2));
    // Group events in the logs (who held what, when), for a failed round to be read.
    let args = |name: &str, extra: &[&str]| {
        let mut args = if exactly_once {
            eos_args(&topic, &group, &model_dir, name, extra)
        } else {
            let mut args = consume_args(&topic, &group, &model_dir);
            args.extend(extra.iter().map(|s| s.to_string()));
            args
        };
        args.retain(|a| a != "--quiet");
        args.extend(GROUP_EVENTS_LOG.iter().map(|s| s.to_string()));
        args
    };
    let timeouts = ["-X", "session.timeout.ms=4000", "-X", "heartbeat.interval.ms=1000"];
    let addrs = [metrics_addr(), metrics_addr()];
    let mut consumers: Vec<Spawned> = ["a", "b"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            let mut extra = timeouts.to_vec();
            extra.extend(["--metrics-addr", addr]);
            spawn_consumer(dir.path(), name, args(name, &extra))
        })
        .collect();
    let producer = producer_thread(&topic, INPUTS as u64, 250, brokers());
    // Both at work: each has committed a transaction, so each holds a partition.
    for (addr, name) in addrs.iter().zip(["a", "b"]) {
        wait_for_metric(
            addr,
            "fraud_consumer_messages_total",
            1.0,
            Duration::from_secs(30),
            &format!("round {round}: {name}"),
        );
    }
    let assigned = "partitions assigned";
    let b_assignments = read(dir.path(), "b.err").matches(assigned).count();
    signal(&consumers[0], "-STOP");
    // A's session expires (4 s) and B rejoins the group without it: B's next assignment (A's
    // partition with its own). That is when A is a zombie; it is thawed then, as a process
    // frozen that long comes back. (Not later: while A stays frozen, the local Tansu keeps it
    // as a ghost in the group and does not apply B's transactional offset commits, measured,
    // so B's work since its rejoin is redone after the next rebalance whatever the consumer
    // does.)
    wait_for_log(dir.path(), "b.err", assigned, b_assignments + 1, Duration::from_secs(30));
    signal(&consumers[0], "-CONT");
    producer.join().unwrap();
    // A and B finish the stream. (Not a third consumer: after a member's session expires,
    // Tansu 0.6 keeps a ghost leader in the group, and a member that joins later waits for an
    // assignment forever; measured with at least once as well. See scripts/broker-limits.py.)
    wait_for_every_output(&brokers(), &topic, Duration::from_secs(60));
    for (c, name) in consumers.iter_mut().zip(["a", "b"]) {
        sigterm_and_wait(c, dir.path(), name);
    }
    let log = read(dir.path(), "a.err");
    ZombieRound { topic, stalled: log.contains("consumer_stalled"), late: late_commits(&log) }
}

/// The inputs of the commits a consumer's log reports as late: `offsets=P:FIRST-LAST,...` on
/// its `late_commit` lines.
fn late_commits(log: &str) -> Vec<(i32, i64, i64)> {
    let mut ranges = Vec::new();
    for line in log.lines().filter(|l| l.contains("late_commit")) {
        let Some(field) = line.split_whitespace().find_map(|w| w.strip_prefix("offsets=")) else {
            continue;
        };
        for range in field.trim_matches('"').split(',') {
            let parsed = range.split_once(':').and_then(|(p, r)| {
                let (first, last) = r.split_once('-')?;
                Some((p.parse().ok()?, first.parse().ok()?, last.parse().ok()?))
            });
            ranges.push(parsed.unwrap_or_else(|| panic!("unreadable late_commit offsets {range:?} in: {line}")));
        }
    }
    ranges
}

/// Rounds, and how many run at once (each mostly waits on timeouts).
const ZOMBIE_ROUNDS: usize = 20;
const ZOMBIE_PARALLEL: usize = 2;

/// On a broker that does not fence old generations, rounds of the 20 that may have duplicates.
/// Measured on the local Tansu: 2 rounds in 280 with a 7 s freeze (p = 0.0071;
/// docs/guarantees.md), 0 in 20 with the thaw at B's rejoin (about as long). Counting
/// rounds with duplicates as Binomial(20, p), more than 3 happens with probability 1.2e-5 at
/// p = 0.0071, and 0.15 % at p = 0.026, the 95 % upper bound of 2 in 280 (Clopper-Pearson), so
/// the test does not flake at the measured rate. A regression that duplicates in most rounds
/// (p = 0.5) passes with probability P(X <= 3) = (1 + 20 + 190 + 1140) / 2^20 = 0.13 %; one in
/// 40 % of rounds, 1.6 %.
const MAX_ROUNDS_WITH_DUPLICATES: usize = 3;

/// And inputs a round may duplicate. A late commit is one transaction: in steady state 100 ms
/// (the commit interval) of one partition's 125 inputs a second, about 13; the two rounds
/// measured had 11 and 80 (a transaction that caught up a backlog). 250 is 2 s of the
/// partition's stream, three times the largest measured. A consumer that writes the thawed
/// zombie's in-flight work again, as at least once does, duplicated 264 to 416 in rounds of
/// that test.
const MAX_DUPLICATED_PER_ROUND: usize = 250;

#[test]
#[ignore = "slow (about 3 minutes); scripts/test.sh runs it"]
fn a_frozen_zombie_commits_nothing_late() {
    let _alone = heavy();
    // Measured first: whether the broker itself refuses a late commit (KIP-447).
    let fencing = broker_fences_old_generations(&brokers());
    let rounds: Vec<ZombieRound> = (0..ZOMBIE_ROUNDS)
        .collect::<Vec<usize>>()
        .chunks(ZOMBIE_PARALLEL)
        .flat_map(|batch| {
            let handles: Vec<_> = batch.iter().map(|&r| std::thread::spawn(move || zombie_round(r, true))).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    let logs: Vec<Outputs> = rounds.iter().map(|r| Outputs::log(&brokers(), &r.topic)).collect();
    for (i, (r, out)) in rounds.iter().zip(&logs).enumerate() {
        // Information, not a verdict: the consumer's own report of a commit that may be late.
        let unreported: Vec<_> = out
            .duplicated
            .iter()
            .filter(|(p, o)| !r.late.iter().any(|(lp, first, last)| lp == p && (first..=last).contains(&o)))
            .collect();
        eprintln!(
            "round {i}: the frozen consumer noticed its stall: {}; late commits reported: {:?}; duplicates outside \
             them: {}; {out:?}",
            r.stalled,
            r.late,
            unreported.len()
        );
    }
    let with_duplicates = logs.iter().filter(|o| !o.duplicated.is_empty()).count();
    let with_late = rounds.iter().filter(|r| !r.late.is_empty()).count();
    eprintln!(
        "zombie: {with_duplicates} of {} rounds with duplicates; the frozen consumer reported a late commit in \
         {with_late}",
        rounds.len()
    );
    for (i, (r, out)) in rounds.iter().zip(&logs).enumerate() {
        assert!(r.stalled, "round {i}: the frozen consumer did not notice its stall");
        assert_eq!(out.inputs, INPUTS, "round {i}: {out:?}");
        assert!(out.missing.is_empty() && out.open == 0, "round {i}: {out:?}");
    }
    match fencing {
        Ok(()) => {
            for r in &rounds {
                assert_exactly_once(&brokers(), &r.topic);
            }
        }
        Err(reason) => {
            // The exactly-once assertion above stands for a broker that fences; here the one
            // window no client can close stays open, and the log's markers alone say how often
            // it let duplicates through: within the bounds above, or the consumer regressed.
            eprintln!("zombie: exactly once is not asserted on this broker, measured: {reason}");
            assert!(
                with_duplicates <= MAX_ROUNDS_WITH_DUPLICATES,
                "{with_duplicates} of {ZOMBIE_ROUNDS} rounds had duplicates (at most {MAX_ROUNDS_WITH_DUPLICATES})"
            );
            for (i, out) in logs.iter().enumerate() {
                assert!(
                    out.duplicated.len() <= MAX_DUPLICATED_PER_ROUND,
                    "round {i}: {} inputs duplicated (at most {MAX_DUPLICATED_PER_ROUND}): {out:?}",
                    out.duplicated.len()
                );
            }
        }
    }
}

/// The same zombie at least once, for the guarantees table: nothing is lost; what the thawed
/// consumer had in flight is written again (its outputs were not transactional), and the
/// duplicates are counted.
#[test]
#[ignore = "slow (about 40 s); scripts/test.sh runs it"]
fn at_least_once_a_frozen_zombie_loses_nothing() {
    let _alone = heavy();
    let rounds: Vec<String> = [100, 101, 102, 103]
        .chunks(ZOMBIE_PARALLEL)
        .flat_map(|batch| {
            let handles: Vec<_> =
                batch.iter().map(|&r| std::thread::spawn(move || zombie_round(r, false).topic)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    for topic in &rounds {
        let out = Outputs::log(&brokers(), topic);
        eprintln!("zombie, at least once: {out:?}");
        assert!(out.missing.is_empty(), "an input without output: {out:?}");
        assert_eq!((out.inputs, out.aborted, out.open), (INPUTS, 0, 0), "{out:?}");
    }
}
