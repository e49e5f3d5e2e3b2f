"""Reads the changelog's tables with Flink SQL in local mode, using only the README's statements.

Usage: python read_tables.py BROKERS REGISTRY_URL PREFIX JAR_DIR README
Runs the README's Flink block, then one job that reads every table from the start to its end
as it was when the job began and writes Flink's resulting table, row by row, to an upsert-kafka
topic <PREFIX>.flink.<table> (JSON key and value, a tombstone for a retracted row). Nothing of
the coordinator's code is used: Flink, its Kafka connector and the debezium-avro-confluent
format against the registry's Confluent-compatible API. Prints the tables' names as JSON.
"""
import json
import os
import re
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

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

# One job for all tables: Flink's JVM and planner are the cost, not the rows.
statements = env.create_statement_set()
for table in tables:
    env.execute_sql(f"""
        CREATE TABLE flink_{table} WITH (
          'connector' = 'upsert-kafka',
          'topic' = '{prefix}.flink.{table}',
          'properties.bootstrap.servers' = '{brokers}',
          'key.format' = 'json',
          'value.format' = 'json'
        ) LIKE {table} (EXCLUDING OPTIONS)""")
    statements.add_insert_sql(f"INSERT INTO flink_{table} SELECT * FROM {table}")
statements.execute().wait()

print(json.dumps(tables, separators=(",", ":")))
