//! A broker of the test's own that keeps its log on disk (Tansu on SQLite, FRAUD_DURABLE_TANSU),
//! so it can be killed and restarted on the same storage.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{create_topic_at, fraud, free_port, metric, sample_csv, stderr, unique};

/// A Tansu broker with SQLite storage in `dir`, on `port`; killed on drop.
pub struct DurableBroker {
    child: Child,
}

impl DurableBroker {
    pub fn start(dir: &Path, port: u16) -> DurableBroker {
        let bin = std::env::var("FRAUD_DURABLE_TANSU")
            .expect("FRAUD_DURABLE_TANSU is not set: scripts/test.sh builds Tansu with SQLite storage and sets it");
        let url = format!("tcp://127.0.0.1:{port}");
        let log = File::options().append(true).create(true).open(dir.join("tansu.log")).unwrap();
        let child = std::process::Command::new(bin)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
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

impl Drop for DurableBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

    /// Produces `total` messages at 1,000/s; once the consumer serving metrics on `consumer`
    /// has made two fifths of them durable (about 8 s into a 20,000 stream), kills the broker
    /// (SIGKILL) and restarts it on the same storage 3 s later. The producer must ride out the
    /// restart.
    pub fn produce_through_a_restart(&mut self, dir: &Path, total: u64, consumer: &str) {
        let producer = {
            let (addr, topic, csv) = (self.addr.clone(), self.topic.clone(), sample_csv());
            std::thread::spawn(move || {
                fraud()
                    .args(["produce", "--brokers", &addr, "--topic", &topic, "--count", &total.to_string()])
                    .args(["--rate", "1000", "--delivery-timeout-ms", "120000", "--csv", csv.to_str().unwrap()])
                    .output()
                    .unwrap()
            })
        };
        let mid_stream = (total * 2 / 5) as f64;
        let deadline = Instant::now() + Duration::from_secs(60);
        while metric(consumer, "fraud_consumer_messages_total") < mid_stream {
            assert!(Instant::now() < deadline, "the consumer did not reach {mid_stream} inputs within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        // The consumer at work is half of "mid-stream"; the producer's liveness is the other.
        assert!(!producer.is_finished(), "the stream ended before the broker restart");
        drop(self.broker.take());
        // Not a wait for a condition: how long the broker stays down is the fault.
        std::thread::sleep(Duration::from_secs(3));
        self.broker = Some(DurableBroker::start(dir, self.port));
        let out = producer.join().unwrap();
        assert!(out.status.success(), "the producer did not ride out the restart: {}", stderr(&out));
    }
}
