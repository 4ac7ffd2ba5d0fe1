#!/usr/bin/env python3
"""How fast a consumer group starts and fails over, for fraud's group defaults and others.

    scripts/bench/group.py FRAUD BROKERS MODEL_DIR RUNS

For each configuration, alternating, RUNS times:
  start     `fraud consume` on a topic holding 100 messages: seconds from the process's start to
            its first committed score (its metrics, polled every 20 ms);
  failover  two consumers share a 4-partition topic fed at 500 messages/s; one is killed with
            SIGKILL: seconds from the kill to the first score record, written after the kill, of
            an input from the killed member's partitions (the record's own timestamp).
Prints one JSON line per run and a summary line per configuration (medians).
"""
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CONFIGS = {
    "fraud defaults (6 s session)": [],
    "Kafka's default before 3.0 (10 s)": ["-X", "session.timeout.ms=10000", "-X", "heartbeat.interval.ms=3000"],
    "librdkafka's default (45 s)": ["-X", "session.timeout.ms=45000", "-X", "heartbeat.interval.ms=3000"],
}


def free_addr():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"127.0.0.1:{port}"


def committed(addr):
    try:
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=1) as r:
            for line in r.read().decode().splitlines():
                if line.startswith("fraud_consumer_messages_total "):
                    return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def new_topic(brokers, partitions):
    name = "bench-group-" + uuid.uuid4().hex[:12]
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result()
    return name


def consumer(fraud, brokers, topic, group, model, extra, addr, log):
    args = [fraud, "consume", "-b", brokers, "--topic", topic, "--group", group, "--model-dir", model,
            "--metrics-addr", addr] + extra
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)


def start(fraud, brokers, model, extra, tmp):
    topic = new_topic(brokers, 4)
    subprocess.run([fraud, "produce", "-b", brokers, "--topic", topic, "--count", "100", "-q"], check=True,
                   stdout=subprocess.DEVNULL)
    addr = free_addr()
    with open(os.path.join(tmp, "start.log"), "w") as log:
        t0 = time.monotonic()
        p = consumer(fraud, brokers, topic, "g-" + topic, model, extra, addr, log)
        while committed(addr) < 1 and time.monotonic() - t0 < 120:
            time.sleep(0.02)
        took = time.monotonic() - t0
        p.send_signal(signal.SIGTERM)
        p.wait()
    return took


def failover(fraud, brokers, model, extra, tmp):
    topic = new_topic(brokers, 4)
    group = "g-" + topic
    producer = subprocess.Popen([fraud, "produce", "-b", brokers, "--topic", topic, "--count", "60000",
                                 "--rate", "500", "-q"], stdout=subprocess.DEVNULL)
    addrs = [free_addr(), free_addr()]
    logs = [os.path.join(tmp, f"{n}.log") for n in "ab"]
    members = [consumer(fraud, brokers, topic, group, model, extra, a, open(l, "w")) for a, l in zip(addrs, logs)]
    deadline = time.monotonic() + 120
    while any(committed(a) < 1 for a in addrs) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(2)
    # The killed member's partitions: the last assignment in its log.
    assigned = re.findall(r"partitions assigned .*partitions=\[([0-9, ]*)\]", open(logs[0]).read())
    mine = {int(p) for p in assigned[-1].split(",")} if assigned else set()
    reader = Consumer({"bootstrap.servers": brokers, "group.id": "reader-" + uuid.uuid4().hex,
                       "enable.auto.commit": False})
    scores = topic + "-scores"
    parts = list(reader.list_topics(scores, timeout=10).topics[scores].partitions)
    reader.assign([TopicPartition(scores, p, -1) for p in parts])  # from the end
    for _ in range(20):  # let the reader reach the end before the kill
        reader.poll(0.05)
    t_kill = time.time()
    members[0].send_signal(signal.SIGKILL)
    members[0].wait()
    took = None
    deadline = time.monotonic() + 150
    while took is None and time.monotonic() < deadline and mine:
        m = reader.poll(0.2)
        if m is None or m.error():
            continue
        _, ts = m.timestamp()
        source = json.loads(m.value()).get("source", {})
        if source.get("partition") in mine and ts / 1000 > t_kill:
            took = ts / 1000 - t_kill
    reader.close()
    members[1].send_signal(signal.SIGTERM)
    members[1].wait()
    producer.kill()
    producer.wait()
    return took


def main():
    fraud, brokers, model, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    results = {name: {"start": [], "failover": []} for name in CONFIGS}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(runs):
            for name, extra in CONFIGS.items():
                s = start(fraud, brokers, model, extra, tmp)
                f = failover(fraud, brokers, model, extra, tmp)
                results[name]["start"].append(s)
                if f is not None:
                    results[name]["failover"].append(f)
                print(json.dumps({"run": run, "config": name, "first_score_s": round(s, 2),
                                  "failover_s": None if f is None else round(f, 2)}), flush=True)
    for name, r in results.items():
        med = lambda v: round(statistics.median(v), 2) if v else None
        print(json.dumps({"config": name, "first_score_s_median": med(r["start"]), "first_score_s": [round(v, 2) for v in r["start"]],
                          "failover_s_median": med(r["failover"]), "failover_s": [round(v, 2) for v in r["failover"]]}))


if __name__ == "__main__":
    main()
