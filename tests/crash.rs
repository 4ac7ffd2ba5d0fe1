//! `kill -9` of the consumer at random points mid-stream, for both guarantees: at least once
//! loses nothing, exactly once gives each input one output. Slow: `#[ignore]`d, and
//! scripts/test.sh runs them.

mod common;

use std::time::Duration;

use common::*;

#[test]
#[ignore = "slow (about 3 minutes); scripts/test.sh runs it"]
fn kill_9_at_random_points_loses_nothing() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("crash", Some(4));
    let total = 50_000;
    // Slow enough to outlast the rounds: each new member waits for the killed one's session to
    // expire before it gets partitions (about 11 s on the local broker).
    let producer = producer_thread(&topic, total, 300, brokers());
    // scripts/bench-crash.sh measures the duplicates at other commit intervals through this.
    let interval = std::env::var("FRAUD_TEST_COMMIT_INTERVAL_MS").unwrap_or_else(|_| "100".into());
    let durable = kill_9_rounds(dir.path(), 10, 9, |_| {
        let mut args = consume_args(&topic, &group, &model_dir);
        args.extend(["--quiet".into(), "--commit-interval-ms".into(), interval.clone()]);
        args
    });
    eprintln!("inputs committed by each round when it was killed: {durable:?}");
    producer.join().unwrap();
    // Right after the last kill: -e waits for the killed member's partitions.
    let mut args = consume_args(&topic, &group, &model_dir);
    args.extend(["-e", "--quiet", "--json"].iter().map(|s| s.to_string()));
    let mut last = spawn_consumer(dir.path(), "final", args);
    assert!(last.wait().unwrap().success(), "{}", read(dir.path(), "final.err"));
    assert_group_at_end(&topic, &group);
    let (inputs, scores, duplicates) = assert_all_scored(&brokers(), &topic);
    assert_eq!(inputs, total as usize);
    // Scored as explain scores each row, whichever round wrote it.
    let scored = read_topic(&format!("{topic}-scores"));
    let decided = Explained::sample(&model_dir).assert_scores(&read_topic(&topic), &scored, ReasonsFor::Flagged);
    assert_eq!(decided.values().sum::<u64>() as usize, scores);
    eprintln!(
        "kill -9 x10 over {total} messages, commits every {interval} ms: {scores} score records, {duplicates} duplicates"
    );
}

#[test]
#[ignore = "slow (about 3 minutes); scripts/test.sh runs it"]
fn kill_9_at_random_points_gives_each_input_one_output() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-crash", Some(4));
    let total = 50_000;
    // Slow enough to outlast the rounds: each new member waits for the killed one's session to
    // expire before it gets partitions (about 11 s on the local broker).
    let producer = producer_thread(&topic, total, 300, brokers());
    // Bad inputs mixed into the stream, one a second (a pace, not a wait for anything).
    let bad = {
        let topic = topic.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            for chunk in bad_inputs(60).chunks(1) {
                send_raw(&topic, chunk);
                sent += 1;
                std::thread::sleep(Duration::from_secs(1));
            }
            sent
        })
    };
    // Every round with the defaults: each restart takes the state directory's slot, and with it
    // the transactional.id, of the process killed before it, fences that previous life and
    // aborts what it left open, as a restarted pod of a StatefulSet would.
    let durable = kill_9_rounds(dir.path(), 10, 11, |_| eos_default_args(&topic, &group, &model_dir, &[]));
    eprintln!("inputs committed by each round when it was killed: {durable:?}");
    producer.join().unwrap();
    let bad_sent = bad.join().unwrap();
    // Right after the last kill: -e waits for the killed member's partitions.
    let args = eos_default_args(&topic, &group, &model_dir, &["-e", "--json"]);
    let mut last = spawn_consumer(dir.path(), "final", args);
    assert!(last.wait().unwrap().success(), "{}", read(dir.path(), "final.err"));
    eprintln!("kill -9 x10 over {total} messages, exactly once; the last run: {}", read(dir.path(), "final.out"));
    assert_group_at_end(&topic, &group);
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!(out.inputs, total as usize + bad_sent);
    assert_eq!(out.dead_letters, bad_sent, "each bad input dead-lettered once");
    assert_eq!(out.scores, total as usize, "each good input scored once");
    let scores = visible_records(&brokers(), &format!("{topic}-scores"));
    Explained::sample(&model_dir).assert_scores(&read_topic(&topic), &scores, ReasonsFor::Flagged);
}
