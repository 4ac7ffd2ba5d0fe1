//! `fraud consume` refuses a setup it cannot run before it touches a broker: exit 2 and a
//! message that names what is wrong.

mod common;

use common::*;

#[test]
fn a_metrics_address_in_use_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = trained_model(&dir);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&[
        "consume",
        "--brokers",
        "127.0.0.1:1",
        "--model-dir",
        model_dir.to_str().unwrap(),
        "--metrics-addr",
        &addr,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains(&format!("--metrics-addr {addr}")), "{}", stderr(&out));
}

#[test]
fn missing_or_corrupt_model_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(&["consume", "--brokers", "127.0.0.1:1", "--model-dir", dir.path().join("none").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    std::fs::write(dir.path().join("model.json"), "{ not a model").unwrap();
    let out = run(&["consume", "--brokers", "127.0.0.1:1", "--model-dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not a valid model"), "{}", stderr(&out));
}
