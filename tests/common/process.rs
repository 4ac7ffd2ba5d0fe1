//! The consumers under test as processes: spawning them, signals, kill -9 rounds, waiting on
//! what their metrics and logs say, and their memory.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::{brokers, fraud, read};

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

/// `--log` for a consumer whose own warnings and group events (partitions assigned, revoked)
/// are wanted without its per-message lines: a test waits on those events.
pub const GROUP_EVENTS_LOG: [&str; 2] = ["--log", "warn,fraud::stream::consume=info"];

/// A consumer under test, killed (SIGKILL) and reaped on drop if it still runs: a test that
/// fails midway must not leave it behind, least of all frozen (SIGSTOP), holding its group on
/// the shared broker for the tests after it.
pub struct Spawned(Child);

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Starts `fraud consume` with its output in files (so it never blocks on a pipe).
pub fn spawn_consumer(dir: &Path, name: &str, args: Vec<String>) -> Spawned {
    let child = fraud()
        .args(&args)
        .stdout(Stdio::from(File::create(dir.join(format!("{name}.out"))).unwrap()))
        .stderr(Stdio::from(File::create(dir.join(format!("{name}.err"))).unwrap()))
        .spawn()
        .unwrap();
    Spawned(child)
}

/// Sends `sig` (`-TERM`, `-STOP`, ...) to a child process.
pub fn signal(child: &Child, sig: &str) {
    let status = std::process::Command::new("kill").args([sig, &child.id().to_string()]).status().expect("kill");
    assert!(status.success(), "kill {sig} {}", child.id());
}

/// Sends SIGTERM to a child process.
pub fn terminate(child: &Child) {
    signal(child, "-TERM")
}

/// SIGTERM, then the exit, which must be 0 (the consumer's log in the failure).
pub fn sigterm_and_wait(child: &mut Child, dir: &Path, name: &str) {
    terminate(child);
    let status = child.wait().unwrap();
    assert!(status.success(), "{name} exited {status}: {}", read(dir, &format!("{name}.err")));
}

/// A free loopback port (bound and released; the caller binds it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A loopback address for a consumer's `--metrics-addr`.
pub fn metrics_addr() -> String {
    format!("127.0.0.1:{}", free_port())
}

/// Prometheus samples from `http://ADDR/metrics` (empty when it does not answer).
pub fn scrape(addr: &str) -> HashMap<String, f64> {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let Ok(mut resp) = agent.get(format!("http://{addr}/metrics")).call() else {
        return HashMap::new();
    };
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(k, v)| Some((k.to_string(), v.parse().ok()?))))
        .collect()
}

/// One sample of a scrape, 0 when absent (a counter not yet created).
pub fn metric(addr: &str, name: &str) -> f64 {
    scrape(addr).get(name).copied().unwrap_or(0.0)
}

/// Waits until the sample `name` of the consumer serving metrics on `addr` reaches `at_least`;
/// fails, with `what`, after `within`. Returns the scrape that showed it.
pub fn wait_for_metric(addr: &str, name: &str, at_least: f64, within: Duration, what: &str) -> HashMap<String, f64> {
    let deadline = Instant::now() + within;
    loop {
        let m = scrape(addr);
        if m.get(name).copied().unwrap_or(0.0) >= at_least {
            return m;
        }
        assert!(Instant::now() < deadline, "{what}: {name} did not reach {at_least} within {within:?}: {m:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the consumer `name` in `dir`, serving metrics on `addr`, has made an input
/// durable (delivered, or committed in a transaction): it holds partitions and works on them.
/// Fails after 60 s with its log.
pub fn wait_for_work(addr: &str, dir: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while metric(addr, "fraud_consumer_messages_total") < 1.0 {
        assert!(Instant::now() < deadline, "{name} did no work within 60 s: {}", read(dir, &format!("{name}.err")));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until `dir/file` (a consumer's log) holds `needle` `times` times or more; fails after
/// `within`.
pub fn wait_for_log(dir: &Path, file: &str, needle: &str, times: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while read(dir, file).matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "{file} did not say {needle:?} {times} times within {within:?}: {}",
            read(dir, file)
        );
        std::thread::sleep(Duration::from_millis(100));
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
            let addr = metrics_addr();
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
            // Not a wait for a condition: the random moment of the kill is the test.
            std::thread::sleep(Duration::from_millis(rng.gen_range(300..3_000)));
            let done = working(&scrape(&addr));
            child.kill().unwrap();
            child.wait().unwrap();
            done
        })
        .collect()
}

/// Resident memory of a process, KiB (0 once it is gone).
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_string())
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
