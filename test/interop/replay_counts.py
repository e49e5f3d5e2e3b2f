"""A replay tool in another language: cut the coordinator's batches again from its snapshot markers.

Reads the snapshot markers on <prefix>.snapshots, keeps the coordinator's chain (ids one apart from
snapshot 1, a `generation` header that never goes down, input ranges that move forward, a
re-published marker counted once), and for the snapshots --from..--to reads exactly the input
records each one folded: on every partition its marker names, the offsets fromOffset..toOffset
(inclusive) as a read_committed consumer sees them. It prints one JSON line per snapshot with
the record types it folded and how many of each; a record the pass refused before any decider
saw it (listed in the marker's `rejected`) counts as `rejected:<code>`. Uses confluent-kafka,
the registry's schemas and fastavro, nothing of this repository's TypeScript; schemas/README.md
("Replaying the log") says why this cuts the same batches.

    python replay_counts.py --brokers 127.0.0.1:9092 --registry http://127.0.0.1:8081/apis/ccompat/v7 \
        --prefix coord --from 1 --to 40

Exits 1 when the markers do not form a chain over the range, or when the records found in a
snapshot's ranges are not as many as its marker says it folded.
"""
import argparse
import io
import json
import struct
import sys
import time
import uuid
from collections import Counter

import fastavro
from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

MARKER = "coord.v1.SnapshotMarker"


class Schemas:
    """Writer schemas by id, from the registry, each fetched once."""

    def __init__(self, registry):
        self.registry = registry
        self.by_id = {}

    def of(self, value):
        """(full record name, parsed schema) of a Confluent-framed value, or None when it is not framed."""
        if value is None or len(value) < 5 or value[0] != 0:
            return None
        schema_id = struct.unpack(">I", value[1:5])[0]
        if schema_id not in self.by_id:
            text = json.loads(self.registry.get_schema(schema_id).schema_str)
            name = text["name"] if "." in text["name"] else f"{text.get('namespace', '')}.{text['name']}"
            self.by_id[schema_id] = (name, fastavro.parse_schema(text))
        return self.by_id[schema_id]

    def decode(self, value):
        name, schema = self.of(value)
        return name, fastavro.schemaless_reader(io.BytesIO(value[5:]), schema)


def read_ranges(brokers, ranges, timeout):
    """The records of each (topic, partition): {offset: value} for the offsets in [lo, hi], read committed."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"py-replay-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    wanted = {tp: (lo, hi) for tp, (lo, hi) in ranges.items()}
    found = {tp: {} for tp in wanted}
    consumer.assign([TopicPartition(t, p, lo) for (t, p), (lo, _) in wanted.items()])
    deadline = time.time() + timeout
    pending = set(wanted)
    try:
        while pending:
            if time.time() > deadline:
                raise SystemExit(f"the input ranges did not arrive within {timeout}s: {sorted(pending)}")
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                tp = (msg.topic(), msg.partition())
                lo, hi = wanted[tp]
                if lo <= msg.offset() <= hi:
                    found[tp][msg.offset()] = msg.value()
            # The position passes control records and aborted records too: past hi, the range is complete.
            for tp in list(pending):
                pos = consumer.position([TopicPartition(tp[0], tp[1])])[0].offset
                if pos > wanted[tp][1]:
                    pending.discard(tp)
    finally:
        consumer.close()
    return found


def read_markers(brokers, topic, schemas, timeout):
    """The trusted chain of markers on `topic`, in snapshot order."""
    consumer = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"py-markers-{uuid.uuid4()}",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    chain = []
    last_to = {}
    if high > low:
        consumer.assign([TopicPartition(topic, 0, low)])
        deadline = time.time() + timeout
        while True:
            if time.time() > deadline:
                raise SystemExit(f"{topic} was not read to its end within {timeout}s")
            msg = consumer.poll(0.2)
            if msg is not None and msg.error() is None:
                marker = trusted(msg, chain, last_to, schemas, low == 0)
                if marker is not None:
                    chain.append(marker)
                    for r in marker["inputs"]:
                        last_to[(r["topic"], r["partition"])] = r["toOffset"]
            if consumer.position([TopicPartition(topic, 0)])[0].offset >= high:
                break
    consumer.close()
    return chain


def trusted(msg, chain, last_to, schemas, from_beginning):
    """The marker when it continues the chain; None for a re-published one or one that is not the coordinator's."""
    try:
        name, marker = schemas.decode(msg.value())
    except Exception as err:  # a record anyone appended: skipped, as the coordinator skips it
        print(f"skipped offset {msg.offset()}: does not decode ({err})", file=sys.stderr)
        return None
    headers = dict(msg.headers() or [])
    generation = headers.get("generation")
    if name != MARKER or generation is None or not generation.decode().isdigit() or int(generation) < 1:
        print(f"skipped offset {msg.offset()}: not a marker with a generation", file=sys.stderr)
        return None
    marker["generation"] = int(generation)
    last = chain[-1] if chain else None
    if last is None:
        if from_beginning and marker["snapshotId"] != 1:
            print(f"skipped offset {msg.offset()}: snapshot {marker['snapshotId']} opens the topic", file=sys.stderr)
            return None
        return marker
    if marker["snapshotId"] <= last["snapshotId"]:
        return None  # an outbox published again after a crash
    if marker["snapshotId"] != last["snapshotId"] + 1 or marker["generation"] < last["generation"]:
        print(f"skipped offset {msg.offset()}: does not continue snapshot {last['snapshotId']}", file=sys.stderr)
        return None
    if any(r["fromOffset"] <= last_to.get((r["topic"], r["partition"]), -1) for r in marker["inputs"]):
        print(f"skipped offset {msg.offset()}: its input ranges go back", file=sys.stderr)
        return None
    return marker


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--prefix", default="coord")
    ap.add_argument("--from", dest="first", type=int, default=1, help="first snapshot id")
    ap.add_argument("--to", dest="last", type=int, default=None, help="last snapshot id (default: the last on the log)")
    ap.add_argument("--timeout", type=float, default=60.0)
    args = ap.parse_args()

    schemas = Schemas(SchemaRegistryClient({"url": args.registry}))
    chain = read_markers(args.brokers, f"{args.prefix}.snapshots", schemas, args.timeout)
    last = args.last if args.last is not None else (chain[-1]["snapshotId"] if chain else 0)
    markers = [m for m in chain if args.first <= m["snapshotId"] <= last]
    if [m["snapshotId"] for m in markers] != list(range(args.first, last + 1)):
        print(f"the log's chain of markers does not hold snapshots {args.first}..{last}", file=sys.stderr)
        sys.exit(1)

    # Each partition is read once, from the first offset a marker of the range needs to the last.
    ranges = {}
    for m in markers:
        for r in m["inputs"]:
            tp = (r["topic"], r["partition"])
            lo, hi = ranges.get(tp, (r["fromOffset"], r["toOffset"]))
            ranges[tp] = (min(lo, r["fromOffset"]), max(hi, r["toOffset"]))
    records = read_ranges(args.brokers, ranges, args.timeout) if ranges else {}

    ok = True
    for m in markers:
        refused = {(v["topic"], v["partition"], v["offset"]): v["code"] for v in (m.get("rejected") or [])}
        types = Counter()
        for r in m["inputs"]:
            tp = (r["topic"], r["partition"])
            for offset in sorted(o for o in records[tp] if r["fromOffset"] <= o <= r["toOffset"]):
                code = refused.get((tp[0], tp[1], offset))
                if code is not None:
                    types[f"rejected:{code}"] += 1
                    continue
                try:
                    found = schemas.of(records[tp][offset])
                except Exception:  # a schema the registry no longer knows
                    found = None
                types[found[0] if found else "undecodable"] += 1
        counted = sum(types.values())
        if counted != m["records"]:
            print(f"snapshot {m['snapshotId']}: {counted} records in its ranges, but its marker says {m['records']}", file=sys.stderr)
            ok = False
        print(json.dumps({"snapshotId": m["snapshotId"], "snapshotTs": m["snapshotTs"], "records": counted, "types": dict(sorted(types.items()))}))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    try:
        main()
    except KafkaException as err:
        raise SystemExit(f"kafka: {err}")
