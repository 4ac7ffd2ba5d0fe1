//! Helpers shared by the integration tests: the binary, the shipped sample, running commands.
#![allow(dead_code)]

pub mod log;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn sample_csv() -> PathBuf {
    root().join("data/sample.csv")
}

/// The full ULB data set, where the workspace has it beside the project.
pub fn full_dataset() -> Option<PathBuf> {
    let path = root().join("../shared/data/creditcard.csv.gz");
    path.exists().then_some(path)
}

pub fn fraud() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fraud"));
    cmd.env_remove("FRAUD_BROKERS").env_remove("FRAUD_MODEL_DIR").env_remove("FRAUD_CSV");
    cmd
}

/// Runs `fraud ARGS`, returning its output whatever the exit status.
pub fn run(args: &[&str]) -> Output {
    fraud().args(args).output().expect("running the fraud binary")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Trains on the sample into `dir` and returns the JSON report.
pub fn train_sample(dir: &Path) -> serde_json::Value {
    let out = run(&["train", "--csv", sample_csv().to_str().unwrap(), "--model-dir", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "train failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("train --json prints one JSON object")
}

// ---- a real broker ----

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The broker the tests run against: FRAUD_TEST_BROKERS, as `scripts/test.sh` sets it after
/// starting one. Kafka tests fail, not skip, without it.
pub fn brokers() -> String {
    std::env::var("FRAUD_TEST_BROKERS").expect(
        "FRAUD_TEST_BROKERS is not set: run the tests with scripts/test.sh, which starts a broker \
         (or start one with scripts/broker.sh start and export its address)",
    )
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

pub fn create_topic(name: &str, partitions: i32) {
    create_topic_at(&brokers(), name, partitions)
}

pub fn create_topic_at(brokers: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("admin client");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let results = rt
        .block_on(admin.create_topics(
            &[NewTopic::new(name, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create_topics");
    for r in results {
        r.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
    }
}

/// One record read back from a topic.
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    pub headers: HashMap<String, String>,
}

impl Record {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).expect("a JSON record")
    }
}

/// Every record of `topic`, read from the beginning of each partition to its end (detected
/// with librdkafka's partition EOF: Tansu's ListOffsets "latest" is not reliable).
pub fn read_topic(topic: &str) -> Vec<Record> {
    read_topic_at(&brokers(), topic)
}

pub fn read_topic_at(brokers: &str, topic: &str) -> Vec<Record> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", unique("reader"))
        // What a downstream reader of an exactly-once output must use (librdkafka's default).
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true")
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("reader consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    let Some(t) = metadata.topics().iter().find(|t| t.name() == topic) else { return Vec::new() };
    if t.error().is_some() || t.partitions().is_empty() {
        return Vec::new();
    }
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in t.partitions() {
        tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut at_end = std::collections::HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < t.partitions().len() {
        assert!(Instant::now() < deadline, "reading {topic} took over 60 s");
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => out.push(Record {
                partition: m.partition(),
                offset: m.offset(),
                key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                payload: m.payload().unwrap_or(&[]).to_vec(),
                headers: m
                    .headers()
                    .map(|h| {
                        h.iter()
                            .map(|h| (h.key.to_string(), String::from_utf8_lossy(h.value.unwrap_or(&[])).into_owned()))
                            .collect()
                    })
                    .unwrap_or_default(),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

/// The number of partitions of `topic` (0 if it does not exist).
pub fn partition_count(brokers: &str, topic: &str) -> i32 {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("metadata client");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).expect("metadata");
    metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map_or(0, |t| t.partitions().len() as i32)
}

/// Whether the broker hides the records of an aborted transaction from a read_committed
/// client (librdkafka); Err with what was measured where it does not. Measured once per broker.
pub fn broker_hides_aborted_records(brokers: &str) -> Result<(), String> {
    static MEASURED: std::sync::Mutex<Option<HashMap<String, Result<(), String>>>> = std::sync::Mutex::new(None);
    let mut measured = MEASURED.lock().unwrap_or_else(|e| e.into_inner());
    measured
        .get_or_insert_with(HashMap::new)
        .entry(brokers.to_string())
        .or_insert_with(|| probe_aborted_records(brokers))
        .clone()
}

fn probe_aborted_records(brokers: &str) -> Result<(), String> {
    let topic = unique("abort-probe");
    create_topic_at(brokers, &topic, 1);
    let producer = probe_producer(brokers);
    producer.init_transactions(Duration::from_secs(30)).expect("init_transactions");
    producer.begin_transaction().unwrap();
    for i in 0..3 {
        producer.send(BaseRecord::to(&topic).key(&format!("aborted-{i}")).payload("x")).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    producer.abort_transaction(Duration::from_secs(30)).unwrap();
    producer.begin_transaction().unwrap();
    producer.send(BaseRecord::to(&topic).key("committed").payload("x")).unwrap();
    producer.commit_transaction(Duration::from_secs(30)).unwrap();
    let seen: Vec<String> = read_topic_at(brokers, &topic).into_iter().filter_map(|r| r.key).collect();
    if seen == ["committed"] {
        Ok(())
    } else {
        Err(format!(
            "a read_committed reader (librdkafka) of a topic holding an aborted transaction of 3 records and a \
             committed one of 1 saw {seen:?}: this broker sends no aborted-transaction list in its fetch \
             responses (Tansu 0.6 always sends it empty), so aborted records reach read_committed clients"
        ))
    }
}

fn probe_producer(brokers: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("transactional.id", unique("probe"))
        .create()
        .expect("transactional producer")
}

/// Whether the broker commits a Kafka transaction at all; Err with the measured failure where it
/// does not (Tansu 0.6.0 as published on crates.io has no EndTxn).
pub fn broker_commits_transactions(brokers: &str) -> Result<(), String> {
    let topic = unique("txn-probe");
    create_topic_at(brokers, &topic, 1);
    let producer = probe_producer(brokers);
    let commit = || -> Result<(), KafkaError> {
        producer.init_transactions(Duration::from_secs(30))?;
        producer.begin_transaction()?;
        producer.send(BaseRecord::to(&topic).key("k").payload("x")).map_err(|(e, _)| e)?;
        producer.commit_transaction(Duration::from_secs(30))
    };
    commit().map_err(|e| format!("a transactional producer (librdkafka) could not commit one record: {e}"))
}

/// Whether the broker refuses a transactional offset commit from a member of an old group
/// generation, as Apache Kafka does (KIP-447): the only fence for a consumer that froze after
/// its last check before a commit. Err with what was measured where it does not.
pub fn broker_fences_old_generations(brokers: &str) -> Result<(), String> {
    let topic = unique("fence-probe");
    create_topic_at(brokers, &topic, 1);
    let group = unique("g-fence-probe");
    // A member of the group, once it holds the partition.
    let member = || -> BaseConsumer {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("session.timeout.ms", "6000")
            .create()
            .expect("consumer");
        consumer.subscribe(&[&topic]).expect("subscribe");
        let deadline = Instant::now() + Duration::from_secs(30);
        while consumer.assignment().map_or(true, |a| a.count() == 0) {
            assert!(Instant::now() < deadline, "fencing probe: no partition assigned within 30 s");
            let _ = consumer.poll(Duration::from_millis(100));
        }
        consumer
    };
    let old = member();
    let old_generation = old.group_metadata().expect("group metadata");
    drop(old); // leaves the group
    let _new = member();
    let producer = probe_producer(brokers);
    producer.init_transactions(Duration::from_secs(30)).expect("init_transactions");
    producer.begin_transaction().expect("begin_transaction");
    producer.send(BaseRecord::to(&topic).key("zombie").payload("x")).map_err(|(e, _)| e).expect("send");
    let mut offsets = rdkafka::TopicPartitionList::new();
    offsets.add_partition_offset(&topic, 0, rdkafka::Offset::Offset(1)).expect("offset");
    let committed = producer
        .send_offsets_to_transaction(&offsets, &old_generation, Duration::from_secs(30))
        .and_then(|()| producer.commit_transaction(Duration::from_secs(30)));
    match committed {
        Err(_) => Ok(()),
        Ok(()) => {
            Err("a transactional offset commit carrying the group metadata of a member that had left, after a new \
             member joined (a newer generation), was accepted and committed: this broker does not fence old \
             generations (KIP-447; Tansu 0.6 does not), so a consumer frozen between its last check and its \
             commit's EndTxn commits late, and nothing else can refuse it (scripts/broker-limits.sh: no \
             producer-epoch fence, no transaction timeout either)"
                .to_string())
        }
    }
}

/// Offsets committed by `group` on `topic`, by partition (absent: nothing committed).
pub fn committed(topic: &str, group: &str, partitions: i32) -> HashMap<i32, i64> {
    let consumer: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", brokers()).set("group.id", group).create().expect("consumer");
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let got = consumer.committed_offsets(tpl, Duration::from_secs(10)).expect("committed offsets");
    got.elements()
        .iter()
        .filter_map(|e| match e.offset() {
            rdkafka::Offset::Offset(o) => Some((e.partition(), o)),
            _ => None,
        })
        .collect()
}

/// The end offset of each partition: one past its last record.
pub fn end_offsets(records: &[Record]) -> HashMap<i32, i64> {
    let mut ends = HashMap::new();
    for r in records {
        let e = ends.entry(r.partition).or_insert(0);
        *e = (*e).max(r.offset + 1);
    }
    ends
}

/// Sends raw payloads (key, payload) to `topic` and waits for them.
pub fn send_raw(topic: &str, messages: &[(String, Vec<u8>)]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("message.max.bytes", "10000000")
        .create()
        .expect("producer");
    for (k, v) in messages {
        producer.send(BaseRecord::to(topic).key(k).payload(v)).expect("queue");
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// `fraud consume` args for a test: its topics and group, and otherwise the defaults.
pub fn consume_args(topic: &str, group: &str, model_dir: &Path) -> Vec<String> {
    [
        "consume",
        "--brokers",
        &brokers(),
        "--topic",
        topic,
        "--group",
        group,
        "--model-dir",
        model_dir.to_str().unwrap(),
        "--stats-interval-ms",
        "1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// `fraud produce --count N` of sample rows to `topic`.
pub fn produce(topic: &str, count: u64, extra: &[&str]) {
    let (b, count, csv) = (brokers(), count.to_string(), sample_csv());
    let mut args = vec!["produce", "--brokers", &b, "--topic", topic, "--count", &count];
    args.extend(["--csv", csv.to_str().unwrap()]);
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "produce failed: {}", stderr(&out));
}

/// Waits until `topic` holds at least `n` records or `timeout` passes; returns them.
pub fn wait_for_records(topic: &str, n: usize, timeout: Duration) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    loop {
        let records = read_topic(topic);
        if records.len() >= n || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &std::process::Child) {
    let pid = child.id().to_string();
    let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill");
    assert!(status.success());
}

/// A free loopback port (bound and released; the caller binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Prometheus samples from `http://ADDR/metrics` (empty when it does not answer).
pub fn scrape(addr: &str) -> HashMap<String, f64> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let Ok(mut resp) = agent.get(format!("http://{addr}/metrics")).call() else { return HashMap::new() };
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
        .collect()
}

/// A model trained on the sample, in `dir/fraud_model`.
pub fn trained_model(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let model_dir = dir.path().join("fraud_model");
    train_sample(&model_dir);
    model_dir
}

/// What a streaming test starts from: a temp dir with a model trained on the sample, and its
/// own topic (created with `partitions` when given) and consumer group.
pub struct Stream {
    pub dir: tempfile::TempDir,
    pub model_dir: PathBuf,
    pub topic: String,
    pub group: String,
}

impl Stream {
    /// With `FRAUD_TEST_KEEP` set, the dir (the consumers' logs) outlives the test, for a
    /// failure to be read; its path is printed.
    pub fn new(topic_prefix: &str, partitions: Option<i32>) -> Stream {
        let keep = std::env::var_os("FRAUD_TEST_KEEP").is_some();
        let dir = tempfile::Builder::new().prefix("fraud-test-").disable_cleanup(keep).tempdir().unwrap();
        if keep {
            eprintln!("{topic_prefix}: kept in {}", dir.path().display());
        }
        let model_dir = trained_model(&dir);
        let topic = unique(topic_prefix);
        if let Some(p) = partitions {
            create_topic(&topic, p);
        }
        Stream { dir, model_dir, topic, group: unique("g") }
    }
}

/// The `model_version` of a saved model.
pub fn model_version(model_dir: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(model_dir.join("model.json")).unwrap()).unwrap();
    v["model_version"].as_str().unwrap().to_string()
}

// ---- processes under test ----

use std::fs::File;
use std::process::{Child, Stdio};

/// Starts `fraud consume` with its output in files (so it never blocks on a pipe).
pub fn spawn_consumer(dir: &Path, name: &str, args: Vec<String>) -> Child {
    fraud()
        .args(&args)
        .stdout(Stdio::from(File::create(dir.join(format!("{name}.out"))).unwrap()))
        .stderr(Stdio::from(File::create(dir.join(format!("{name}.err"))).unwrap()))
        .spawn()
        .unwrap()
}

/// The slow tests each load both cores; run alone, they measure the consumer, not each other.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

pub fn producer_thread(topic: &str, count: u64, rate: u64, brokers: String) -> std::thread::JoinHandle<()> {
    let (topic, csv) = (topic.to_string(), sample_csv());
    std::thread::spawn(move || {
        let out = fraud()
            .args(["produce", "--brokers", &brokers, "--topic", &topic, "--count", &count.to_string()])
            .args(["--rate", &rate.to_string(), "--csv", csv.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success(), "produce: {}", stderr(&out));
    })
}

pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A Tansu broker with SQLite storage in `dir`, on `port`; killed on drop.
pub struct DurableBroker {
    child: Child,
}

impl DurableBroker {
    pub fn start(dir: &Path, port: u16) -> DurableBroker {
        let bin = std::env::var("FRAUD_DURABLE_TANSU")
            .expect("FRAUD_DURABLE_TANSU is not set: scripts/test.sh builds Tansu with SQLite storage and sets it");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = std::process::Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(File::options().append(true).create(true).open(dir.join("tansu.log")).unwrap()))
            .spawn()
            .expect("starting durable Tansu");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "durable Tansu did not open its port");
            std::thread::sleep(Duration::from_millis(100));
        }
        DurableBroker { child }
    }
}

/// A stream on a durable broker on a free port: `topic` (2 partitions) with its score and
/// dead-letter topics, created up front (this broker does not create topics on first use, like
/// a Kafka with auto-create off).
pub struct DurableStream {
    broker: Option<DurableBroker>,
    port: u16,
    pub addr: String,
    pub topic: String,
}

impl DurableStream {
    pub fn start(dir: &Path, prefix: &str) -> DurableStream {
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let broker = DurableBroker::start(dir, port);
        let topic = unique(prefix);
        create_topic_at(&addr, &topic, 2);
        create_topic_at(&addr, &format!("{topic}-scores"), 2);
        create_topic_at(&addr, &format!("{topic}-dlq"), 1);
        DurableStream { broker: Some(broker), port, addr, topic }
    }

    /// Produces `total` messages at 1,000/s; 8 s in, kills the broker (SIGKILL) and restarts it
    /// on the same storage 3 s later. The producer must ride out the restart.
    pub fn produce_through_a_restart(&mut self, dir: &Path, total: u64) {
        let producer = {
            let (addr, topic, csv) = (self.addr.clone(), self.topic.clone(), sample_csv());
            std::thread::spawn(move || {
                fraud()
                    .args([
                        "produce",
                        "--brokers",
                        &addr,
                        "--topic",
                        &topic,
                        "--count",
                        &total.to_string(),
                        "--rate",
                        "1000",
                    ])
                    .args(["--delivery-timeout-ms", "120000", "--csv", csv.to_str().unwrap()])
                    .output()
                    .unwrap()
            })
        };
        std::thread::sleep(Duration::from_secs(8));
        // (Reading the topics now would chase the stream to its end: the producer's own
        // liveness is what shows the crash lands mid-stream.)
        assert!(!producer.is_finished(), "the stream ended before the broker restart");
        drop(self.broker.take());
        std::thread::sleep(Duration::from_secs(3));
        self.broker = Some(DurableBroker::start(dir, self.port));
        let out = producer.join().unwrap();
        assert!(out.status.success(), "the producer did not ride out the restart: {}", stderr(&out));
    }
}

impl Drop for DurableBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `rounds` consumers of one group one after another, each killed with SIGKILL (no drain,
/// no commit, no abort) at a random moment after it has made some work durable, as its metrics
/// show: so every kill lands mid-work, not while the consumer is still joining. `args` gives a
/// round's arguments, `--metrics-addr` added here. Returns, per round, the inputs it had made
/// durable when it was killed.
pub fn kill_9_rounds(dir: &Path, rounds: usize, seed: u64, args: impl Fn(usize) -> Vec<String>) -> Vec<f64> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..rounds)
        .map(|round| {
            let addr = format!("127.0.0.1:{}", free_port());
            let mut round_args = args(round);
            round_args.extend(["--metrics-addr".to_string(), addr.clone()]);
            let name = format!("round{round}");
            let mut child = spawn_consumer(dir, &name, round_args);
            let working = |m: &HashMap<String, f64>| m.get("fraud_consumer_messages_total").copied().unwrap_or(0.0);
            let deadline = Instant::now() + Duration::from_secs(60);
            while working(&scrape(&addr)) < 1.0 {
                assert!(
                    Instant::now() < deadline,
                    "{name} did no work within 60 s: {}",
                    read(dir, &format!("{name}.err"))
                );
                assert!(child.try_wait().unwrap().is_none(), "{name} exited: {}", read(dir, &format!("{name}.err")));
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(rng.gen_range(300..3_000)));
            let done = working(&scrape(&addr));
            child.kill().unwrap();
            child.wait().unwrap();
            done
        })
        .collect()
}

/// Asserts that `group` has committed every partition of `topic` at its end: what
/// `fraud consume -e` promises when it exits 0.
pub fn assert_group_at_end(topic: &str, group: &str) {
    let inputs = read_topic(topic);
    let partitions = partition_count(&brokers(), topic);
    let ends = end_offsets(&inputs);
    let committed = committed(topic, group, partitions);
    for p in 0..partitions {
        let end = ends.get(&p).copied().unwrap_or(0);
        // A partition that never held a record has nothing to commit.
        if end > 0 {
            assert_eq!(
                committed.get(&p).copied(),
                Some(end),
                "partition {p} of {topic}: committed {committed:?}, ends {ends:?}"
            );
        }
    }
}
