"""Reads the changelog's tables with Flink SQL in local mode, using only the README's statements.

Usage: python read_tables.py BROKERS REGISTRY_URL PREFIX JAR_DIR README
Prints one JSON object: for each table of the README's Flink block, its rows as Flink ends with
them, after reading every topic from the start to its end as it was when the job began.
Nothing of the coordinator's code is used: Flink, its Kafka connector and the
debezium-avro-confluent format against the registry's Confluent-compatible API.
"""
import json
import os
import re
import sys

from pyflink.common import RowKind
from pyflink.table import EnvironmentSettings, TableEnvironment
from pyflink.table.types import ArrayType, MapType, RowType

brokers, registry, prefix, jar_dir, readme = sys.argv[1:6]

text = open(readme, encoding="utf-8").read()
block = text[text.index("<!-- flink-sql-begin -->"):text.index("<!-- flink-sql-end -->")]
sql = block.split("```sql", 1)[1].rsplit("```", 1)[0]
# The README's addresses and prefix are the defaults of a local deployment; the test's differ.
sql = sql.replace("'coord.changelog.", f"'{prefix}.changelog.")
sql = sql.replace("'127.0.0.1:9092'", f"'{brokers}'")
sql = sql.replace("'http://127.0.0.1:8081/apis/ccompat/v7'", f"'{registry}'")
# Read to the end as it is now, then stop: a bounded job whose results can be compared.
sql = sql.replace("'scan.startup.mode' = 'earliest-offset',", "'scan.startup.mode' = 'earliest-offset',\n  'scan.bounded.mode' = 'latest-offset',")

env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
jars = sorted(os.path.join(jar_dir, j) for j in os.listdir(jar_dir) if j.endswith(".jar"))
env.get_config().set("pipeline.jars", ";".join("file://" + j for j in jars))
env.get_config().set("parallelism.default", "1")

tables = []
for statement in [s.strip() for s in sql.split(";") if s.strip()]:
    # SET is the SQL client's; a program sets the same option on its configuration.
    setting = re.match(r"SET\s+'([^']+)'\s*=\s*'([^']*)'$", statement)
    if setting:
        env.get_config().set(setting.group(1), setting.group(2))
        continue
    m = re.match(r"CREATE TABLE (\w+)", statement)
    if m:
        tables.append(m.group(1))
    env.execute_sql(statement)


def plain(v, t):
    """A Flink value as JSON, nested rows by their field names (a nested Row carries none)."""
    if v is None:
        return None
    if isinstance(t, RowType):
        return {f.name: plain(v[i], f.data_type) for i, f in enumerate(t.fields)}
    if isinstance(t, ArrayType):
        return [plain(x, t.element_type) for x in v]
    if isinstance(t, MapType):
        return {str(k): plain(x, t.value_type) for k, x in v.items()}
    return v


out = {}
for table in tables:
    result = env.execute_sql(f"SELECT * FROM {table}")
    schema = result.get_table_schema()
    names, types = schema.get_field_names(), schema.get_field_data_types()
    rows = []
    changes = 0
    with result.collect() as results:
        for row in results:
            changes += 1
            image = {n: plain(row[i], types[i]) for i, n in enumerate(names)}
            kind = row.get_row_kind()
            if kind in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                rows.append(image)
            elif image in rows:
                rows.remove(image)
    out[table] = {"rows": rows, "changes": changes}

print(json.dumps(out))
