//! The exactly-once identity (the transactional.id) with the defaults: two processes on one
//! host take distinct ids and never fence each other; a restart after `kill -9` takes its id
//! back and fences its previous life. Slow: `#[ignore]`d, and scripts/test.sh runs them.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The transactional.id a consumer's log says it initialised.
fn transactional_id(log: &str) -> String {
    let line = log
        .lines()
        .find(|l| l.contains("initialising transactions"))
        .unwrap_or_else(|| panic!("no transactional.id in: {log}"));
    let id = line.split_whitespace().find_map(|w| w.strip_prefix("transactional_id=")).expect("transactional_id=");
    id.trim_matches('"').to_string()
}

const FENCED: &str = "fences the current one";

#[test]
#[ignore = "slow (about 30 s); scripts/test.sh runs it"]
fn two_processes_with_the_defaults_on_one_host_never_fence_each_other() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-twins", Some(4));
    let addrs = [metrics_addr(), metrics_addr()];
    let mut children: Vec<Spawned> = ["a", "b"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            let mut args = consume_args(&topic, &group, &model_dir);
            args.extend(["--exactly-once", "--json", "--metrics-addr", addr].iter().map(|s| s.to_string()));
            spawn_consumer(dir.path(), name, args)
        })
        .collect();
    let producer = producer_thread(&topic, 8_000, 800, brokers());
    for (addr, name) in addrs.iter().zip(["a", "b"]) {
        wait_for_work(addr, dir.path(), name);
    }
    producer.join().unwrap();
    wait_for_every_output(&brokers(), &topic, Duration::from_secs(60));
    for (c, name) in children.iter_mut().zip(["a", "b"]) {
        sigterm_and_wait(c, dir.path(), name);
    }
    let (a, b) = (read(dir.path(), "a.err"), read(dir.path(), "b.err"));
    let (id_a, id_b) = (transactional_id(&a), transactional_id(&b));
    eprintln!("two processes with the defaults: transactional.ids {id_a} and {id_b}");
    assert_ne!(id_a, id_b, "two live processes on one host share a transactional.id");
    for (log, name) in [(&a, "a"), (&b, "b")] {
        assert!(!log.contains(FENCED) && !log.contains("transaction_fatal"), "{name} was fenced: {log}");
    }
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.aborted), (8_000, 0), "{out:?}");
}

/// Records of transactions still open in `topic`'s log (0 while the topic does not exist).
fn open_outputs(topic: &str) -> usize {
    let brokers = brokers();
    topic_partitions(&brokers, topic).map_or(0, |p| common::log::committed_view(&brokers, topic, p).open)
}

#[test]
#[ignore = "slow (about 30 s); scripts/test.sh runs it"]
fn a_restart_after_kill_9_takes_its_id_back_and_fences_its_previous_life() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-restart-fence", Some(2));
    // Transactions of 3 s on a stream of 300 inputs a second: about 900 outputs in each.
    let args = |addr: &str| {
        let mut args = consume_args(&topic, &group, &model_dir);
        args.extend(
            ["--exactly-once", "--commit-interval-ms", "3000", "--metrics-addr", addr].iter().map(|s| s.to_string()),
        );
        args
    };
    let producer = producer_thread(&topic, 4_000, 300, brokers());
    let first = metrics_addr();
    let mut a = spawn_consumer(dir.path(), "a", args(&first));
    wait_for_work(&first, dir.path(), "a");
    // Killed with a transaction open and outputs in it: between 100 and 600 of them is 0.3 to
    // 2 s into a 3 s transaction, a second at least before it would commit.
    let deadline = Instant::now() + Duration::from_secs(30);
    let scores = format!("{topic}-scores");
    loop {
        let open = open_outputs(&scores);
        if (100..=600).contains(&open) {
            break;
        }
        assert!(Instant::now() < deadline, "no transaction of a's seen open with 100 to 600 outputs (last {open})");
        std::thread::sleep(Duration::from_millis(50));
    }
    a.kill().unwrap(); // SIGKILL: its open transaction stays open
    a.wait().unwrap();
    assert!(open_outputs(&scores) > 0, "a's transaction was not left open");
    let mut b = spawn_consumer(dir.path(), "b", args(&metrics_addr()));
    producer.join().unwrap();
    wait_for_every_output(&brokers(), &topic, Duration::from_secs(90));
    sigterm_and_wait(&mut b, dir.path(), "b");
    let (id_a, id_b) = (transactional_id(&read(dir.path(), "a.err")), transactional_id(&read(dir.path(), "b.err")));
    assert_eq!(id_a, id_b, "the restarted process did not take its previous life's id back");
    let out = assert_exactly_once(&brokers(), &topic);
    eprintln!("restart after kill -9 as {id_b}: {out:?}");
    // The restart's producer never aborts anything itself here: an aborted record is the open
    // transaction of the killed process, aborted when the new one fenced it.
    assert!(out.aborted > 0, "the killed process's open transaction was not aborted: {out:?}");
    assert!(!read(dir.path(), "b.err").contains("transaction_aborted"), "the restart aborted a transaction itself");
    assert_eq!(out.inputs, 4_000);
}
