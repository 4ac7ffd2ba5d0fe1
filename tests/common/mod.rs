//! Helpers shared by the integration tests: the binary, the shipped sample, running commands.
#![allow(dead_code)]

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
    let out = run(&[
        "train",
        "--csv",
        sample_csv().to_str().unwrap(),
        "--model-dir",
        dir.to_str().unwrap(),
        "--json",
    ]);
    assert!(out.status.success(), "train failed: {}", stderr(&out));
    serde_json::from_slice(&out.stdout).expect("train --json prints one JSON object")
}
