//! `fraud consume --exactly-once` against a real broker: what a `read_committed` reader of the
//! outputs sees after a clean run, `kill -9` at random points, a frozen zombie, a rebalance
//! and a broker restart. Every check is by input record: each (partition, offset) of the input
//! topic has exactly one output (a score record or a dead letter), keyed as its input.
//! The slow ones are `#[ignore]`d; scripts/test.sh runs them all.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::*;

/// `fraud consume --exactly-once` args for a test, as process `instance` of the group.
fn eos_args(topic: &str, group: &str, model_dir: &Path, instance: &str, extra: &[&str]) -> Vec<String> {
    let mut args = consume_args(topic, group, model_dir);
    args.extend(["--exactly-once", "--instance-id", instance, "--quiet"].iter().map(|s| s.to_string()));
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// `fraud consume --exactly-once` args with the default identity (a state-directory slot).
fn eos_default_args(topic: &str, group: &str, model_dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = consume_args(topic, group, model_dir);
    args.extend(["--exactly-once", "--quiet"].iter().chain(extra).map(|s| s.to_string()));
    args
}

/// What a read_committed reader of the outputs saw, against the inputs.
struct Outputs {
    inputs: usize,
    scores: usize,
    dead_letters: usize,
    /// Inputs with more than one output, and with none.
    duplicated: Vec<(i32, i64)>,
    missing: Vec<(i32, i64)>,
    /// Output records in aborted transactions, and in transactions still open.
    aborted: usize,
    open: usize,
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
    /// Matches outputs to inputs by the source each names.
    fn of(inputs: &[Record], scores: &[Record], dead: &[Record]) -> Outputs {
        let mut seen: HashMap<(i32, i64), (usize, Option<String>)> = HashMap::new();
        for r in scores {
            let source = &r.json()["source"];
            let at = (source["partition"].as_i64().unwrap() as i32, source["offset"].as_i64().unwrap());
            let e = seen.entry(at).or_default();
            e.0 += 1;
            e.1 = r.key.clone();
        }
        for r in dead {
            let at = (r.headers["fraud.source.partition"].parse().unwrap(), r.headers["fraud.source.offset"].parse().unwrap());
            let e = seen.entry(at).or_default();
            e.0 += 1;
            e.1 = r.key.clone();
        }
        let mut duplicated = Vec::new();
        let mut missing = Vec::new();
        for r in inputs {
            match seen.get(&(r.partition, r.offset)) {
                None => missing.push((r.partition, r.offset)),
                Some((n, key)) => {
                    assert_eq!(key, &r.key, "the output of {}:{} is not keyed as its input", r.partition, r.offset);
                    if *n > 1 {
                        duplicated.push((r.partition, r.offset));
                    }
                }
            }
        }
        assert_eq!(seen.len(), inputs.len() - missing.len(), "outputs for inputs that do not exist");
        Outputs { inputs: inputs.len(), scores: scores.len(), dead_letters: dead.len(), duplicated, missing, aborted: 0, open: 0 }
    }

    /// What a read_committed client (librdkafka) reads.
    fn client(brokers: &str, topic: &str) -> Outputs {
        // Outputs first: every input they name was written before them.
        let scores = read_topic_at(brokers, &format!("{topic}-scores"));
        let dead = read_topic_at(brokers, &format!("{topic}-dlq"));
        Outputs::of(&read_topic_at(brokers, topic), &scores, &dead)
    }

    /// What the log's transaction markers make visible to a read_committed reader.
    fn log(brokers: &str, topic: &str) -> Outputs {
        let view = |t: &str| common::log::committed_view(brokers, t, partition_count(brokers, t));
        let (scores, dead) = (view(&format!("{topic}-scores")), view(&format!("{topic}-dlq")));
        let mut out = Outputs::of(&read_topic_at(brokers, topic), &scores.visible, &dead.visible);
        out.aborted = scores.aborted + dead.aborted;
        out.open = scores.open + dead.open;
        out
    }

    fn assert_exactly_once(&self) {
        assert!(self.duplicated.is_empty() && self.missing.is_empty(), "not exactly once: {self:?}");
        assert_eq!(self.open, 0, "transactions left open: {self:?}");
    }
}

/// The exactly-once check: by the log's markers always, and by a read_committed client where
/// the broker lets a client filter aborted records (the measured reason is printed where not).
fn assert_exactly_once(brokers: &str, topic: &str) -> Outputs {
    let log = Outputs::log(brokers, topic);
    eprintln!("{topic}, by the log's markers: {log:?}");
    log.assert_exactly_once();
    match broker_hides_aborted_records(brokers) {
        Ok(()) => Outputs::client(brokers, topic).assert_exactly_once(),
        Err(reason) => eprintln!("read_committed client check skipped on this broker, measured: {reason}"),
    }
    log
}

/// Bad inputs, one per error kind the consumer dead-letters.
fn bad_inputs(n: usize) -> Vec<(String, Vec<u8>)> {
    let kinds: [&[u8]; 3] = [b"{not json", br#"{"rows": []}"#, br#"{"columns": ["V1"], "data": [[NaN]]}"#];
    (0..n).map(|i| (format!("bad-{i}-{}", uuid::Uuid::new_v4().simple()), kinds[i % kinds.len()].to_vec())).collect()
}

fn sigterm_and_wait(child: &mut Child, dir: &Path, name: &str) {
    terminate(child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{name} exited {status}: {}", read(dir, &format!("{name}.err")));
}

fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap();
    assert!(status.success());
}

/// Runs one exactly-once consumer of the group to the end of the topic; returns its summary.
fn finish_to_end(dir: &Path, topic: &str, group: &str, model_dir: &Path, instance: &str) -> serde_json::Value {
    let args = eos_args(topic, group, model_dir, instance, &["-e", "--json"]);
    let mut last = spawn_consumer(dir, instance, args);
    assert!(last.wait().unwrap().success(), "{}", read(dir, &format!("{instance}.err")));
    serde_json::from_str(&read(dir, &format!("{instance}.out"))).unwrap()
}

#[test]
fn every_input_once_in_transactions_with_offsets_committed() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos", Some(2));
    produce(&topic, 300, &[]);
    send_raw(&topic, &bad_inputs(3));
    let summary = finish_to_end(dir.path(), &topic, &group, &model_dir, "a");
    assert_eq!(summary["inputs"], 303, "{summary}");
    assert_eq!(summary["dead_letters"], 3);
    assert!(summary["transactions_committed"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["transactions_aborted"], 0);
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores, out.dead_letters), (303, 300, 3));
    // The offsets went in with the outputs: the group resumes at the end.
    let inputs = read_topic(&topic);
    assert_eq!(committed(&topic, &group, 2), end_offsets(&inputs));
    let again = finish_to_end(dir.path(), &topic, &group, &model_dir, "a");
    assert_eq!(again["inputs"], 0, "{again}");
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
    // Bad inputs mixed into the stream, one a second.
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
}

/// The transactional.id a consumer's log says it initialised.
fn transactional_id(log: &str) -> String {
    let line = log.lines().find(|l| l.contains("initialising transactions")).unwrap_or_else(|| panic!("no transactional.id in: {log}"));
    let id = line.split_whitespace().find_map(|w| w.strip_prefix("transactional_id=")).expect("transactional_id=");
    id.trim_matches('"').to_string()
}

/// Waits until the consumer serving metrics on `addr` has committed `n` inputs.
fn wait_for_committed(addr: &str, n: f64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while scrape(addr).get("fraud_consumer_messages_total").copied().unwrap_or(0.0) < n {
        assert!(Instant::now() < deadline, "{what}: nothing committed within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

const FENCED: &str = "fences the current one";

#[test]
#[ignore = "slow (about 30 s); scripts/test.sh runs it"]
fn two_processes_with_the_defaults_on_one_host_never_fence_each_other() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-twins", Some(4));
    let addrs = [format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())];
    let mut children: Vec<Child> = ["a", "b"]
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
        wait_for_committed(addr, 1.0, name);
    }
    producer.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Outputs::log(&brokers(), &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
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

#[test]
#[ignore = "slow (about 30 s); scripts/test.sh runs it"]
fn a_restart_after_kill_9_takes_its_id_back_and_fences_its_previous_life() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-restart-fence", Some(2));
    // Transactions of 3 s on a stream of 300 inputs a second: one is open whenever the kill lands.
    let args = |addr: &str| {
        let mut args = consume_args(&topic, &group, &model_dir);
        args.extend(["--exactly-once", "--commit-interval-ms", "3000", "--metrics-addr", addr].iter().map(|s| s.to_string()));
        args
    };
    let producer = producer_thread(&topic, 4_000, 300, brokers());
    let first = format!("127.0.0.1:{}", free_port());
    let mut a = spawn_consumer(dir.path(), "a", args(&first));
    wait_for_committed(&first, 1.0, "a");
    std::thread::sleep(Duration::from_millis(1_500));
    a.kill().unwrap(); // SIGKILL: its open transaction stays open
    a.wait().unwrap();
    let mut b = spawn_consumer(dir.path(), "b", args(&format!("127.0.0.1:{}", free_port())));
    producer.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while !Outputs::log(&brokers(), &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
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

/// What one zombie round left: its topic, whether the frozen consumer noticed its stall, and
/// the inputs of the commits it reported as late (partition, first and last offset).
struct ZombieRound {
    topic: String,
    stalled: bool,
    late: Vec<(i32, i64, i64)>,
}

/// One zombie round: A and B share a 2-partition topic; A is frozen (SIGSTOP) past its session
/// timeout while a stream flows, so its partition moves to B, then thawed (SIGCONT).
fn zombie_round(round: usize, exactly_once: bool) -> ZombieRound {
    let Stream { dir, model_dir, topic, group } = Stream::new(&format!("zombie{round}"), Some(2));
    let args = |name: &str, extra: &[&str]| {
        if exactly_once {
            eos_args(&topic, &group, &model_dir, name, extra)
        } else {
            let mut args = consume_args(&topic, &group, &model_dir);
            args.extend(["--quiet"].iter().chain(extra).map(|s| s.to_string()));
            args
        }
    };
    let timeouts = ["-X", "session.timeout.ms=4000", "-X", "heartbeat.interval.ms=1000"];
    let addrs = [format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port())];
    let mut consumers: Vec<Child> = ["a", "b"]
        .iter()
        .zip(&addrs)
        .map(|(name, addr)| {
            let mut extra = timeouts.to_vec();
            extra.extend(["--metrics-addr", addr]);
            spawn_consumer(dir.path(), name, args(name, &extra))
        })
        .collect();
    let producer = producer_thread(&topic, 4_000, 250, brokers());
    // Both at work: each has committed a transaction.
    let deadline = Instant::now() + Duration::from_secs(30);
    while addrs.iter().any(|a| scrape(a).get("fraud_consumer_messages_total").copied().unwrap_or(0.0) < 1.0) {
        assert!(Instant::now() < deadline, "round {round}: the two consumers did not both get to work");
        std::thread::sleep(Duration::from_millis(200));
    }
    signal(&consumers[0], "-STOP");
    std::thread::sleep(Duration::from_secs(7)); // session 4 s, then B's rejoin
    signal(&consumers[0], "-CONT");
    producer.join().unwrap();
    // A and B finish the stream. (Not a third consumer: after a member's session expires,
    // Tansu 0.6 keeps a ghost leader in the group, and a member that joins later waits for an
    // assignment forever; measured with at least once as well. See scripts/broker-limits.py.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Outputs::log(&brokers(), &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
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
        let Some(field) = line.split_whitespace().find_map(|w| w.strip_prefix("offsets=")) else { continue };
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
        eprintln!("round {i}: the frozen consumer noticed its stall: {}; late commits reported: {:?}; {out:?}", r.stalled, r.late);
    }
    let with_duplicates = logs.iter().filter(|o| !o.duplicated.is_empty()).count();
    let with_late = rounds.iter().filter(|r| !r.late.is_empty()).count();
    eprintln!(
        "zombie: {with_duplicates} of {} rounds with duplicates; the frozen consumer reported a late commit in {with_late}",
        rounds.len()
    );
    for (i, (r, out)) in rounds.iter().zip(&logs).enumerate() {
        assert!(r.stalled, "round {i}: the frozen consumer did not notice its stall");
        assert!(out.missing.is_empty() && out.open == 0, "round {i}: {out:?}");
    }
    match fencing {
        Ok(()) => {
            for r in &rounds {
                assert_exactly_once(&brokers(), &r.topic);
            }
        }
        Err(reason) => {
            // The exactly-once assertion above stands for a broker that fences; here it is
            // skipped, for the measured reason. What must still hold: every duplicate comes
            // from a commit the frozen consumer reported as late, the one window no client
            // can close; a duplicate from anywhere else is a defect of the consumer.
            eprintln!("zombie: exactly once is not asserted on this broker, measured: {reason}");
            for (i, (r, out)) in rounds.iter().zip(&logs).enumerate() {
                let unexplained: Vec<_> = out
                    .duplicated
                    .iter()
                    .filter(|(p, o)| !r.late.iter().any(|(lp, first, last)| lp == p && (first..=last).contains(&o)))
                    .collect();
                assert!(unexplained.is_empty(), "round {i}: duplicates not from a reported late commit: {unexplained:?}; {out:?}");
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
            let handles: Vec<_> = batch.iter().map(|&r| std::thread::spawn(move || zombie_round(r, false).topic)).collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect::<Vec<_>>()
        })
        .collect();
    for topic in &rounds {
        let out = Outputs::log(&brokers(), topic);
        eprintln!("zombie, at least once: {out:?}");
        assert!(out.missing.is_empty(), "an input without output: {out:?}");
        assert_eq!((out.inputs, out.aborted, out.open), (4_000, 0, 0), "{out:?}");
    }
}

/// An output topic that does not exist (and cannot be created): every transaction fails and is
/// aborted, no offset is committed, the consumer keeps running; once the topic exists the work
/// is redone and committed exactly once.
#[test]
fn an_output_topic_that_cannot_be_written_aborts_until_it_can() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-blocked", None);
    create_topic(&topic, 2);
    produce(&topic, 200, &[]);
    let addr = format!("127.0.0.1:{}", free_port());
    let extra = ["--json", "-X", "allow.auto.create.topics=false", "--delivery-timeout-ms", "2000", "--metrics-addr", &addr];
    let mut child = spawn_consumer(dir.path(), "c", eos_args(&topic, &group, &model_dir, "c", &extra));
    let aborted = |m: &HashMap<String, f64>| m.get(r#"fraud_consumer_transactions_total{outcome="aborted"}"#).copied().unwrap_or(0.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    let blocked = loop {
        let m = scrape(&addr);
        if aborted(&m) >= 2.0 || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(aborted(&blocked) >= 2.0, "no transaction was aborted twice: {blocked:?}\n{}", read(dir.path(), "c.err"));
    assert_eq!(blocked.get("fraud_consumer_messages_total").copied().unwrap_or(0.0), 0.0, "{blocked:?}");
    assert!(committed(&topic, &group, 2).is_empty(), "offsets were committed for unwritten outputs");
    assert!(child.try_wait().unwrap().is_none(), "the consumer stopped: {}", read(dir.path(), "c.err"));

    // The cause goes away: the consumer catches up by itself.
    create_topic(&format!("{topic}-scores"), 2);
    create_topic(&format!("{topic}-dlq"), 1);
    let deadline = Instant::now() + Duration::from_secs(90);
    while !Outputs::log(&brokers(), &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    sigterm_and_wait(&mut child, dir.path(), "c");
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!((out.inputs, out.scores), (200, 200));
    assert_eq!(committed(&topic, &group, 2), end_offsets(&read_topic(&topic)));
}

#[test]
#[ignore = "slow (about 40 s); scripts/test.sh runs it"]
fn a_rebalance_from_two_consumers_to_one_keeps_exactly_once() {
    let _alone = heavy();
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-rebalance", Some(4));
    let mut a = spawn_consumer(dir.path(), "a", eos_args(&topic, &group, &model_dir, "a", &["--json"]));
    let mut b = spawn_consumer(dir.path(), "b", eos_args(&topic, &group, &model_dir, "b", &["--json"]));
    let producer = producer_thread(&topic, 12_000, 600, brokers());
    std::thread::sleep(Duration::from_secs(10));
    assert!(!producer.is_finished(), "the stream ended before the rebalance");
    // B leaves mid-stream: its open transaction is committed before its partitions go to A.
    sigterm_and_wait(&mut b, dir.path(), "b");
    producer.join().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Outputs::log(&brokers(), &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    sigterm_and_wait(&mut a, dir.path(), "a");
    let out = assert_exactly_once(&brokers(), &topic);
    assert_eq!(out.inputs, 12_000);
    let handled = |name: &str| -> u64 {
        let s: serde_json::Value = serde_json::from_str(&read(dir.path(), &format!("{name}.out"))).unwrap();
        s["inputs"].as_u64().unwrap()
    };
    let (ha, hb) = (handled("a"), handled("b"));
    assert!(hb > 0, "B did no work before it left");
    assert_eq!(ha + hb, 12_000, "each input counted by exactly one consumer (A {ha}, B {hb})");
}

#[test]
#[ignore = "needs Tansu with SQLite storage (FRAUD_DURABLE_TANSU); scripts/test.sh runs it"]
fn broker_restart_mid_stream_keeps_exactly_once() {
    let _alone = heavy();
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let mut stream = DurableStream::start(dir.path(), "eos-restart");
    let (addr, topic) = (stream.addr.clone(), stream.topic.clone());
    let mut args = eos_args(&topic, &unique("g"), &model_dir, "a", &["--json"]);
    for (i, a) in args.clone().iter().enumerate() {
        if a == "--brokers" {
            args[i + 1] = addr.clone();
        }
    }
    if let Err(reason) = broker_commits_transactions(&addr) {
        // Exactly once cannot hold on a broker without transactions; what can be checked is
        // that the consumer says so and stops, instead of aborting and redoing forever.
        eprintln!("exactly-once across a restart skipped on this broker, measured: {reason} (scripts/broker-limits.sh)");
        let mut produce = fraud();
        produce.args(["produce", "--brokers", &addr, "--topic", &topic, "--count", "50"]);
        let out = produce.args(["--csv", sample_csv().to_str().unwrap()]).output().unwrap();
        assert!(out.status.success(), "produce: {}", stderr(&out));
        let mut consumer = spawn_consumer(dir.path(), "c", args);
        let deadline = Instant::now() + Duration::from_secs(60);
        while consumer.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        let status = consumer.try_wait().unwrap();
        let _ = consumer.kill();
        let err = read(dir.path(), "c.err");
        assert_eq!(status.and_then(|s| s.code()), Some(1), "the consumer kept running without transactions: {err}");
        assert!(err.contains("does not support Kafka transactions"), "no reason given: {err}");
        return;
    }
    let mut consumer = spawn_consumer(dir.path(), "c", args);
    stream.produce_through_a_restart(dir.path(), 20_000);
    let deadline = Instant::now() + Duration::from_secs(120);
    while !Outputs::log(&addr, &topic).missing.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(1));
    }
    assert!(consumer.try_wait().unwrap().is_none(), "the consumer exited: {}", read(dir.path(), "c.err"));
    sigterm_and_wait(&mut consumer, dir.path(), "c");
    assert_exactly_once(&addr, &topic);
}

#[test]
fn a_reload_switches_families_between_transactions() {
    let Stream { dir, model_dir, topic, group } = Stream::new("eos-swap", Some(2));
    let v1 = model_version(&model_dir);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut c = spawn_consumer(dir.path(), "c", eos_args(&topic, &group, &model_dir, "a", &["--watch-model", "--metrics-addr", &addr]));
    produce(&topic, 100, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Outputs::log(&brokers(), &topic).scores < 100 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    // Retrain as trees into the same directory: the consumer swaps families by itself.
    let csv = sample_csv();
    let out = run(&["train", "--model", "gbdt", "--csv", csv.to_str().unwrap(), "--model-dir", model_dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v2 = model_version(&model_dir);
    let deadline = Instant::now() + Duration::from_secs(15);
    while scrape(&addr).get("fraud_consumer_model_reloads_total").copied().unwrap_or(0.0) < 1.0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(scrape(&addr)["fraud_consumer_model_reloads_total"], 1.0, "the trees were not swapped in");
    produce(&topic, 100, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while Outputs::log(&brokers(), &topic).scores < 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(300));
    }
    sigterm_and_wait(&mut c, dir.path(), "c");
    assert_exactly_once(&brokers(), &topic);
    let view = common::log::committed_view(&brokers(), &format!("{topic}-scores"), partition_count(&brokers(), &format!("{topic}-scores")));
    let versions: Vec<String> = view.visible.iter().map(|r| r.json()["model_version"].as_str().unwrap().to_string()).collect();
    assert_eq!(versions.iter().filter(|v| **v == v1).count(), 100, "the first hundred by the logistic model");
    assert_eq!(versions.iter().filter(|v| **v == v2).count(), 100, "the next hundred by the trees");
}
