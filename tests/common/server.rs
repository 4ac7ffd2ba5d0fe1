//! `fraud serve` as a test's client meets it: started on a free port, spoken to over HTTP.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::fraud;

/// A running `fraud serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub base: String,
    agent: ureq::Agent,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(model_dir: &std::path::Path, extra: &[&str]) -> Server {
        let mut child = fraud()
            .args(["serve", "--port", "0", "--model-dir", model_dir.to_str().unwrap()])
            .args(extra)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let base = loop {
            let line = lines.next().expect("server exited before listening").unwrap();
            if let Some(i) = line.find("listening on http://") {
                let rest = &line[i + "listening on ".len()..];
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        Server { child, base, agent }
    }

    pub fn post(&self, path: &str, content_type: &str, body: &[u8]) -> (u16, String) {
        let mut resp = self
            .agent
            .post(format!("{}{path}", self.base))
            .header("Content-Type", content_type)
            .send(body)
            .expect("a response");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap_or_default())
    }

    pub fn json(&self, body: &str) -> (u16, serde_json::Value) {
        let (status, text) = self.post("/invocations", "application/json", body.as_bytes());
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut resp = self.agent.get(format!("{}{path}", self.base)).call().expect("a response");
        (resp.status().as_u16(), resp.body_mut().read_to_string().unwrap())
    }
}
