#!/usr/bin/env python3
"""Reads a score topic read_committed while a benchmark runs and records when each score record
became visible; at the end, joins them with their inputs' timestamps (each record names its
input's partition and offset) and prints the latency percentiles as JSON.

    scripts/bench/latency.py BROKERS INPUT_TOPIC SCORE_TOPIC EXPECTED [TIMEOUT_S]
"""
import json
import sys
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition


def main():
    brokers, input_topic, score_topic, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else 120
    conf = {"bootstrap.servers": brokers, "group.id": f"latency-{time.time()}", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed", "fetch.wait.max.ms": 10}
    c = Consumer(conf)
    # Assigned, not subscribed: a group join took this client up to 20 s on Tansu.
    parts = c.list_topics(score_topic, timeout=10).topics[score_topic].partitions
    c.assign([TopicPartition(score_topic, p, 0) for p in parts])
    seen = {}
    deadline = time.time() + timeout
    while len(seen) < expected and time.time() < deadline:
        m = c.poll(0.1)
        if m is None or m.error():
            continue
        now = time.time()
        src = json.loads(m.value())["source"]
        seen.setdefault((src["partition"], src["offset"]), now)
    c.close()
    # The inputs' timestamps (CreateTime, set by the producer).
    r = Consumer({**conf, "group.id": f"latency-in-{time.time()}", "enable.partition.eof": True})
    parts = r.list_topics(input_topic, timeout=10).topics[input_topic].partitions
    r.assign([TopicPartition(input_topic, p, 0) for p in parts])
    stamps, eof = {}, set()
    while len(eof) < len(parts):
        m = r.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
            continue
        stamps[(m.partition(), m.offset())] = m.timestamp()[1] / 1000.0
    r.close()
    lat = sorted((t - stamps[k]) * 1000 for k, t in seen.items() if k in stamps)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else None
    print(json.dumps({"visible": len(seen), "expected": expected, "p50_ms": q(0.5), "p99_ms": q(0.99), "max_ms": lat[-1] if lat else None}))


if __name__ == "__main__":
    main()
