"""Reads the changelog's tables with Flink SQL in local mode, using only the README's statements.

Usage: python read_tables.py BROKERS REGISTRY_URL PREFIX JAR_DIR README [--secure]
Runs the README's Flink block, then one job that reads every table from the start to its end
as it was when the job began and writes Flink's resulting table, row by row, to an upsert-kafka
topic <PREFIX>.flink.<table> (JSON key and value, a tombstone for a retracted row). Nothing of
the coordinator's code is used: Flink, its Kafka connector and the debezium-avro-confluent
format against the registry's Confluent-compatible API. Prints the tables' names as JSON.

--secure: a secured cluster. Each table also takes the README's options for one ("Running
securely", between <!-- flink-sql-secure-begin --> and <!-- flink-sql-secure-end -->), their
${NAME} placeholders filled from the environment as a reader fills them from run.env and
.coord/secrets/reader.env (KAFKA_BROKERS and SCHEMA_REGISTRY_URL are BROKERS and REGISTRY_URL).
The result topics are written with the same Kafka security options as another principal,
FLINK_SINK_SASL_USERNAME and FLINK_SINK_SASL_PASSWORD: writing is no part of the reader's role.
"""
import json
import os
import re
import sys

from pyflink.table import EnvironmentSettings, TableEnvironment

args = [a for a in sys.argv[1:] if a != "--secure"]
secure = "--secure" in sys.argv[1:]
brokers, registry, prefix, jar_dir, readme = args[:5]

text = open(readme, encoding="utf-8").read()


def block(begin, end):
    """The ```sql block between two markers of the README."""
    part = text[text.index(begin):text.index(end)]
    return part.split("```sql", 1)[1].rsplit("```", 1)[0]


def local(sql):
    """The README's addresses and prefix are the defaults of a local deployment; the test's differ."""
    sql = sql.replace("'coord.changelog.", f"'{prefix}.changelog.")
    sql = sql.replace("'coord.reader.", f"'{prefix}.reader.")
    sql = sql.replace("'127.0.0.1:9092'", f"'{brokers}'")
    return sql.replace("'http://127.0.0.1:8081/apis/ccompat/v7'", f"'{registry}'")


OPTION = re.compile(r"'((?:[^']|'')*)'\s*=\s*'((?:[^']|'')*)'")


def options(sql):
    """The `'key' = 'value'` pairs of a WITH list, in order."""
    return [(m.group(1), m.group(2)) for m in OPTION.finditer(sql)]


def render(opts):
    return ",\n".join(f"  '{k}' = '{v}'" for k, v in opts.items())


def filled(value, env):
    """${NAME} from `env`; a placeholder without a value is an error, never an empty string."""
    def one(m):
        if not env.get(m.group(1)):
            sys.exit(f"read_tables.py --secure: ${{{m.group(1)}}} has no value in the environment")
        return env[m.group(1)].replace("'", "''")
    return re.sub(r"\$\{([A-Z0-9_]+)\}", one, value)


def secure_options(env):
    """The README's options for a secured cluster, filled from `env`."""
    sql = local(block("<!-- flink-sql-secure-begin -->", "<!-- flink-sql-secure-end -->"))
    sql = "\n".join(line for line in sql.splitlines() if not line.strip().startswith("--"))
    return {k: filled(v, env) for k, v in options(sql)}


sql = local(block("<!-- flink-sql-begin -->", "<!-- flink-sql-end -->"))
# Read to the end as it is now, then stop: a bounded job whose results can be compared.
sql = sql.replace("'scan.startup.mode' = 'earliest-offset',", "'scan.startup.mode' = 'earliest-offset',\n  'scan.bounded.mode' = 'latest-offset',")

reader_env = {**os.environ, "KAFKA_BROKERS": brokers, "SCHEMA_REGISTRY_URL": registry}
extra = secure_options(reader_env) if secure else {}
sink_security = {}
if secure:
    sink_env = {**reader_env, "KAFKA_SASL_USERNAME": os.environ.get("FLINK_SINK_SASL_USERNAME", ""), "KAFKA_SASL_PASSWORD": os.environ.get("FLINK_SINK_SASL_PASSWORD", "")}
    sink_security = {k: v for k, v in secure_options(sink_env).items() if k.startswith(("properties.security.", "properties.sasl.", "properties.ssl."))}

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
        if extra:
            # The README's secured options beside the table's own, replacing those of the same name.
            head, with_list = re.match(r"(.*\)\s*WITH\s*\()(.*)\)\s*$", statement, re.S).groups()
            statement = f"{head}\n{render({**dict(options(with_list)), **extra})}\n)"
    env.execute_sql(statement)

# One job for all tables: Flink's JVM and planner are the cost, not the rows.
statements = env.create_statement_set()
for table in tables:
    sink = {
        "connector": "upsert-kafka",
        "topic": f"{prefix}.flink.{table}",
        "properties.bootstrap.servers": brokers,
        "key.format": "json",
        "value.format": "json",
        **sink_security,
    }
    env.execute_sql(f"""
        CREATE TABLE flink_{table} WITH (
{render(sink)}
        ) LIKE {table} (EXCLUDING OPTIONS)""")
    statements.add_insert_sql(f"INSERT INTO flink_{table} SELECT * FROM {table}")
statements.execute().wait()

print(json.dumps(tables, separators=(",", ":")))
