#!/usr/bin/env python3
"""What the broker under test does with transactions, measured with confluent-kafka (librdkafka).

Each check prints one JSON line: what was done, what a conforming broker (Apache Kafka) does,
and what this broker did. Used by scripts/broker-limits.sh; the exactly-once tests cite it.

    scripts/broker-limits.py BROKERS transactions|aborted|open|zombie|epoch|timeout
    scripts/broker-limits.py BROKERS join TOPIC GROUP WHAT   (a new member of GROUP gets a
                                                              partition of TOPIC within 30 s, after WHAT)
"""
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def new_topic(brokers, partitions=1):
    name = "limits-" + uuid.uuid4().hex[:12]
    admin = AdminClient({"bootstrap.servers": brokers})
    for f in admin.create_topics([NewTopic(name, partitions, 1)]).values():
        f.result()
    return name


def read_keys(brokers, topic, isolation):
    c = Consumer({"bootstrap.servers": brokers, "group.id": "limits-reader-" + uuid.uuid4().hex,
                  "enable.partition.eof": True, "isolation.level": isolation,
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    parts = list(c.list_topics(topic, timeout=10).topics[topic].partitions)
    c.assign([TopicPartition(topic, p, 0) for p in parts])
    eof, keys, deadline = set(), [], time.time() + 15
    while len(eof) < len(parts) and time.time() < deadline:
        m = c.poll(0.5)
        if m is None:
            continue
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                eof.add(m.partition())
            continue
        keys.append(m.key().decode())
    c.close()
    return sorted(keys)


def txn_producer(brokers):
    p = Producer({"bootstrap.servers": brokers, "transactional.id": "limits-" + uuid.uuid4().hex})
    p.init_transactions(30)
    return p


def commit_outcome(producer, timeout, first=None):
    """Commits the producer's transaction (after `first`, if given): "committed" or why not."""
    try:
        if first is not None:
            first()
        producer.commit_transaction(timeout)
        return "committed"
    except KafkaException as e:
        return f"refused: {e.args[0].name()}"


def transactions(brokers):
    """A transaction must commit at all: EndTxn (KIP-98) is in every Kafka since 0.11."""
    topic = new_topic(brokers)
    try:
        p = txn_producer(brokers)
        p.begin_transaction()
        p.produce(topic, key="committed", value=b"x")
        p.commit_transaction(30)
        result = "committed"
    except KafkaException as e:
        result = f"refused: {e.args[0].str()}"
    return {"check": "a transaction of one record commits", "kafka": "committed",
            "this_broker": result, "conforms": result == "committed"}


def aborted(brokers):
    """An aborted transaction's records must not reach a read_committed reader."""
    topic = new_topic(brokers)
    p = txn_producer(brokers)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=f"aborted-{i}", value=b"x")
    p.flush()
    p.abort_transaction(30)
    p.begin_transaction()
    p.produce(topic, key="committed", value=b"x")
    p.commit_transaction(30)
    seen = read_keys(brokers, topic, "read_committed")
    return {"check": "aborted transaction hidden from read_committed", "kafka_sees": ["committed"],
            "this_broker_sees": seen, "conforms": seen == ["committed"]}


def open_txn(brokers):
    """An open transaction's records must wait (last stable offset) for a read_committed reader."""
    topic = new_topic(brokers)
    p = txn_producer(brokers)
    p.begin_transaction()
    p.produce(topic, key="committed", value=b"x")
    p.commit_transaction(30)
    p.begin_transaction()
    for i in range(3):
        p.produce(topic, key=f"open-{i}", value=b"x")
    p.flush()
    seen = read_keys(brokers, topic, "read_committed")
    p.abort_transaction(30)
    return {"check": "open transaction held back from read_committed", "kafka_sees": ["committed"],
            "this_broker_sees": seen, "conforms": seen == ["committed"]}


def zombie(brokers):
    """KIP-447: a transactional offset commit from a member of an old group generation fails."""
    topic = new_topic(brokers, 1)
    out = new_topic(brokers, 1)
    p = Producer({"bootstrap.servers": brokers, "linger.ms": 1})
    for i in range(10):
        p.produce(topic, key=f"in-{i}", value=b"x")
    p.flush()
    group = "limits-" + uuid.uuid4().hex
    conf = {"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "isolation.level": "read_committed",
            "session.timeout.ms": 6000, "max.poll.interval.ms": 6000}
    a = Consumer(conf)
    a.subscribe([topic])
    msg = None
    deadline = time.time() + 30
    while msg is None and time.time() < deadline:
        m = a.poll(0.5)
        if m is not None and not m.error():
            msg = m
    zombie_meta = a.consumer_group_metadata()
    pa = txn_producer(brokers)
    pa.begin_transaction()
    pa.produce(out, key="zombie", value=b"x")
    # A stalls past max.poll.interval.ms: librdkafka leaves the group; B takes the partition.
    time.sleep(8)
    b = Consumer(conf)
    b.subscribe([topic])
    got = 0
    deadline = time.time() + 30
    while got == 0 and time.time() < deadline:
        m = b.poll(0.5)
        if m is not None and not m.error():
            got += 1
    b_generation_taken = got > 0
    result = commit_outcome(pa, 30, lambda: pa.send_offsets_to_transaction(
        [TopicPartition(topic, 0, msg.offset() + 1)], zombie_meta, 30))
    b.close()
    return {"check": "zombie's transactional offset commit (old generation) refused",
            "second_member_took_over": b_generation_taken, "kafka": "refused (ILLEGAL_GENERATION, KIP-447)",
            "this_broker": result, "conforms": result != "committed"}


def epoch(brokers):
    """A new producer with the same transactional.id fences the old one (KIP-98): its
    init_transactions aborts the old producer's open transaction, and the old one's commit fails."""
    topic = new_topic(brokers)
    tid = "limits-" + uuid.uuid4().hex
    old = Producer({"bootstrap.servers": brokers, "transactional.id": tid})
    old.init_transactions(30)
    old.begin_transaction()
    old.produce(topic, key="zombie", value=b"x")
    old.flush()
    new = Producer({"bootstrap.servers": brokers, "transactional.id": tid})
    new.init_transactions(30)
    new.begin_transaction()
    new.produce(topic, key="new", value=b"x")
    new.commit_transaction(30)
    result = commit_outcome(old, 10)
    seen = read_keys(brokers, topic, "read_committed")
    return {"check": "a new producer with the same transactional.id fences the old one's open transaction",
            "kafka_sees": ["new"], "this_broker_sees": seen, "old_producer_commit": result,
            "conforms": seen == ["new"]}


def timeout(brokers):
    """A transaction open longer than transaction.timeout.ms is aborted by the coordinator."""
    topic = new_topic(brokers)
    p = Producer({"bootstrap.servers": brokers, "transactional.id": "limits-" + uuid.uuid4().hex,
                  "transaction.timeout.ms": 3000, "message.timeout.ms": 3000})
    p.init_transactions(30)
    p.begin_transaction()
    p.produce(topic, key="late", value=b"x")
    p.flush()
    time.sleep(8)
    result = commit_outcome(p, 30)
    return {"check": "a transaction open 8 s with transaction.timeout.ms=3000 is aborted",
            "kafka": "refused (the coordinator aborted it)", "this_broker": result,
            "conforms": result != "committed"}


def join(brokers, topic, group, what):
    """A member that joins a group must be given partitions (if the group has no other member,
    all of them), whatever happened to the members before."""
    c = Consumer({"bootstrap.servers": brokers, "group.id": group, "enable.auto.commit": False,
                  "session.timeout.ms": 6000})
    c.subscribe([topic])
    start, assigned = time.time(), False
    while not assigned and time.time() - start < 30:
        c.poll(0.2)
        assigned = len(c.assignment()) > 0
    outcome = f"assigned in {time.time() - start:.1f} s" if assigned else "no assignment within 30 s"
    c.close()
    return {"check": f"a member joining after {what} gets the partitions", "kafka": "assigned",
            "this_broker": outcome, "conforms": assigned}


if __name__ == "__main__":
    brokers, which = sys.argv[1], sys.argv[2]
    if which == "join":
        print(json.dumps(join(brokers, *sys.argv[3:6])))
        sys.exit(0)
    print(json.dumps({"transactions": transactions, "aborted": aborted, "open": open_txn, "zombie": zombie,
                      "epoch": epoch, "timeout": timeout}[which](brokers)))
