"""A producer in another language: create and read a logical source through the public protocol only.

Uses Confluent's own Python client, its Schema Registry serializers with TopicRecordNameStrategy,
and the .avsc files of schemas/ -- nothing of this repository's TypeScript. Prints one JSON line
with what it saw and exits non-zero when the coordinator's answers are not the expected ones.

    python create_and_get.py --brokers 127.0.0.1:9092 --registry http://127.0.0.1:8081/apis/ccompat/v7 --prefix coord
"""
import argparse
import json
import pathlib
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_record_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "schemas"


def serializer(registry, record):
    text = (SCHEMAS / f"coord.v1.{record}.avsc").read_text()
    return AvroSerializer(
        registry,
        text,
        conf={"subject.name.strategy": topic_record_subject_name_strategy, "auto.register.schemas": True},
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--prefix", default="coord")
    ap.add_argument("--name", default="py_source")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    requests_topic = f"{args.prefix}.requests.catalog"
    reply_topic = f"{args.prefix}.replies"
    registry = SchemaRegistryClient({"url": args.registry})
    create = serializer(registry, "CreateLogicalSource")
    get = serializer(registry, "GetLogicalSource")
    replies = AvroDeserializer(registry)

    consumer = Consumer({"bootstrap.servers": args.brokers, "group.id": f"py-{uuid.uuid4()}", "enable.auto.commit": False})
    # Start at the reply topic's end as it is now, so no reply to us is missed.
    metadata = consumer.list_topics(reply_topic, timeout=10)
    parts = []
    for p in metadata.topics[reply_topic].partitions:
        _, high = consumer.get_watermark_offsets(TopicPartition(reply_topic, p), timeout=10)
        parts.append(TopicPartition(reply_topic, p, high))
    consumer.assign(parts)
    producer = Producer({"bootstrap.servers": args.brokers, "enable.idempotence": True})

    def ask(ser, value):
        cid = str(uuid.uuid4())
        payload = ser(value, SerializationContext(requests_topic, MessageField.VALUE))
        producer.produce(requests_topic, key=value["name"], value=payload, headers=[("correlation-id", cid), ("reply-to", reply_topic)])
        producer.flush(10)
        deadline = time.time() + args.timeout
        while time.time() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            reply = replies(msg.value(), SerializationContext(reply_topic, MessageField.VALUE))
            if reply["correlationId"] == cid:
                return reply
        raise SystemExit(f"no reply to {cid} within {args.timeout}s")

    fields = [{"name": "id", "type": "INT64"}, {"name": "reading", "type": "FLOAT64"}]
    created = ask(create, {"name": args.name, "fields": fields})
    got = ask(get, {"name": args.name})
    consumer.close()

    def payload_of(reply):
        p = reply["payload"]
        # fastavro returns a union branch as the record itself, or as (name, record) when asked to.
        return p[1] if isinstance(p, tuple) else p

    out = {
        "create": created["status"],
        "get": got["status"],
        "fields": payload_of(got)["fields"] if got["payload"] is not None else None,
        "snapshots": [created["snapshotId"], got["snapshotId"]],
    }
    print(json.dumps(out))
    ok = created["status"] == "OK" and got["status"] == "OK" and out["fields"] == fields and got["snapshotId"] > created["snapshotId"]
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
