//! The broker as the tests see it: names, topics, writing and reading records, committed and
//! end offsets, and probes of what the broker can do.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Headers;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;

use super::{fraud, run, sample_csv, stderr};

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

fn metadata_client(brokers: &str) -> BaseConsumer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("allow.auto.create.topics", "false")
        .create()
        .expect("metadata client")
}

/// The number of partitions of `topic`; None when the broker says it does not exist. Any
/// other answer (an error, no partitions) fails the test: it is not a topic to read.
pub fn topic_partitions(brokers: &str, topic: &str) -> Option<i32> {
    let metadata = metadata_client(brokers)
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("metadata of {topic} at {brokers}: {e}"));
    let t = metadata.topics().iter().find(|t| t.name() == topic)?;
    match t.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => return None,
        Some(e) => panic!("metadata of {topic} at {brokers}: {e}"),
    }
    assert!(!t.partitions().is_empty(), "{topic} at {brokers} has no partitions");
    Some(t.partitions().len() as i32)
}

/// The number of partitions of `topic`, which must exist.
pub fn partition_count(brokers: &str, topic: &str) -> i32 {
    topic_partitions(brokers, topic).unwrap_or_else(|| panic!("{topic} does not exist at {brokers}"))
}

/// Every record of `topic`, which must exist, read from the beginning of each partition to its
/// end (detected with librdkafka's partition EOF: Tansu's ListOffsets "latest" is not reliable).
pub fn read_topic(topic: &str) -> Vec<Record> {
    read_topic_at(&brokers(), topic)
}

pub fn read_topic_at(brokers: &str, topic: &str) -> Vec<Record> {
    read_topic_if_exists(brokers, topic).unwrap_or_else(|| panic!("{topic} does not exist at {brokers}"))
}

/// For a topic a test expects may not exist (yet): a dead-letter topic with no dead letter, an
/// output topic the consumer has not written to. None when it does not exist.
pub fn read_topic_if_exists(brokers: &str, topic: &str) -> Option<Vec<Record>> {
    let partitions = topic_partitions(brokers, topic)?;
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
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, rdkafka::Offset::Beginning).unwrap();
    }
    consumer.assign(&tpl).expect("assign");
    let mut at_end = HashSet::new();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while at_end.len() < partitions as usize {
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
    Some(out)
}

/// Waits until `topic` holds at least `n` records or `timeout` passes; returns them (none while
/// the topic does not exist: the consumer creates its output topics as it first writes).
pub fn wait_for_records(topic: &str, n: usize, timeout: Duration) -> Vec<Record> {
    let deadline = Instant::now() + timeout;
    loop {
        let records = read_topic_if_exists(&brokers(), topic).unwrap_or_default();
        if records.len() >= n || Instant::now() > deadline {
            return records;
        }
        std::thread::sleep(Duration::from_millis(500));
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

/// `fraud produce --count N` of sample rows to `topic`.
pub fn produce(topic: &str, count: u64, extra: &[&str]) {
    let (b, count, csv) = (brokers(), count.to_string(), sample_csv());
    let mut args = vec!["produce", "--brokers", &b, "--topic", topic, "--count", &count];
    args.extend(["--csv", csv.to_str().unwrap()]);
    args.extend(extra);
    let out = run(&args);
    assert!(out.status.success(), "produce failed: {}", stderr(&out));
}

/// `fraud produce` of `count` sample rows at `rate` a second, in a thread.
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
