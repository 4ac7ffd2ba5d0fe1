//! Helpers shared by the integration tests, one job a file: here the binary, the shipped
//! sample, running commands and training; `broker` topics, records and offsets; `process` the
//! consumers as processes (signals, metrics, kill -9 rounds); `durable` a broker that can be
//! restarted; `outputs` each input's outputs; `scores` what a score record must say; `log` the
//! log's transaction markers; `server` a running `fraud serve`.
#![allow(dead_code)]

pub mod broker;
pub mod durable;
pub mod log;
pub mod outputs;
pub mod process;
pub mod scores;
pub mod server;

// Each test file uses some of them.
#[allow(unused_imports)]
pub use {broker::*, durable::*, outputs::*, process::*, scores::*, server::*};

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

/// The Fraud Detection Handbook's transactions, where the workspace has them beside the project.
pub fn handbook_dataset() -> Option<PathBuf> {
    let path = root().join("../shared/data/handbook-transactions.csv.gz");
    path.exists().then_some(path)
}

pub fn fraud() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fraud"));
    cmd.env_remove("FRAUD_BROKERS").env_remove("FRAUD_MODEL_DIR").env_remove("FRAUD_CSV").env_remove("FRAUD_DATA");
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

/// A file a process under test wrote in `dir` (its log), empty when there is none yet.
pub fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file)).unwrap_or_default()
}

/// Trains on the sample into `dir` and returns the JSON report.
pub fn train_sample(dir: &Path) -> serde_json::Value {
    let out = run(&["train", "--csv", sample_csv().to_str().unwrap(), "--model-dir", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "train failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("train --json prints one JSON object")
}

/// A model trained on the sample, in `dir/fraud_model`.
pub fn trained_model(dir: &tempfile::TempDir) -> PathBuf {
    let model_dir = dir.path().join("fraud_model");
    train_sample(&model_dir);
    model_dir
}

/// The `model_version` of a saved model.
pub fn model_version(model_dir: &Path) -> String {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(model_dir.join("model.json")).unwrap()).unwrap();
    v["model_version"].as_str().unwrap().to_string()
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

/// The slow tests each load both cores; run alone, they measure the consumer, not each other.
pub static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|e| e.into_inner())
}
