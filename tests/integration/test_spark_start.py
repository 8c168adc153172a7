"""`start_spark`: every way Spark fails to start is one `SparkStartError` naming the setting.

Failures found before Java starts (the master URL, the driver memory, config keys, Java
itself, a cluster that does not answer, PySpark missing) are checked here in this process: no
JVM starts, so they take milliseconds. Failures only Java can find (a heap it cannot make, a
value Spark rejects) start real JVMs, in one child process of their own: a Python process keeps
one JVM, and the child also shows that a good start after the bad ones still works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from houseofcare.settings import Settings
from houseofcare.spark_session import SparkStartError, spark_plan, start_spark


def settings(**values: Any) -> Settings:
    """Settings from these values and the defaults only (no HOC_* from the environment)."""
    return Settings(_env_prefix="HOC_TEST_UNUSED_", **values)  # type: ignore[call-arg]


def start_error(chosen: Settings) -> str:
    with pytest.raises(SparkStartError) as raised:
        start_spark(chosen)
    return str(raised.value)


@pytest.mark.parametrize(
    ("values", "names", "says"),
    [
        ({"spark_master": "nonsense"}, "HOC_SPARK_MASTER", "not a Spark master URL"),
        ({"spark_master": "local[0]"}, "HOC_SPARK_MASTER", "local[N]"),
        ({"spark_master": "spark//host:7077"}, "HOC_SPARK_MASTER", "spark://host:7077"),
        ({"spark_driver_memory": "lots"}, "HOC_SPARK_DRIVER_MEMORY", "not a memory size"),
        ({"spark_driver_memory": "4gb"}, "HOC_SPARK_DRIVER_MEMORY", "e.g. 4g or 512m"),
        ({"spark_driver_memory": "64t"}, "HOC_SPARK_DRIVER_MEMORY", "more than this machine"),
        ({"spark_config": {"shuffle.partitions": "2"}}, "HOC_SPARK_CONFIG", "not a Spark setting"),
        ({"spark_config": {"spark.master": "local"}}, "HOC_SPARK_CONFIG", "HOC_SPARK_MASTER"),
        (
            {"spark_config": {"spark.driver.memory": "8g"}},
            "HOC_SPARK_CONFIG",
            "HOC_SPARK_DRIVER_MEMORY",
        ),
    ],
)
def test_a_setting_spark_cannot_use_is_named_before_java_starts(
    values: dict[str, Any], names: str, says: str
) -> None:
    message = start_error(settings(**values))
    assert names in message
    assert says in message


def test_an_unreachable_cluster_master_fails_at_once_not_after_spark_s_retries() -> None:
    began = time.monotonic()
    message = start_error(settings(spark_master="spark://127.0.0.1:1"))
    assert time.monotonic() - began < 15  # Spark's own retries take 60 s and more
    assert "HOC_SPARK_MASTER" in message and "spark://127.0.0.1:1" in message
    assert "does not answer" in message and "127.0.0.1:1" in message


def test_java_home_pointing_nowhere_names_java_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JAVA_HOME", "/nowhere/jdk")
    message = start_error(settings())
    assert "JAVA_HOME" in message and "/nowhere/jdk" in message


def test_no_java_on_the_path_says_install_java_or_set_java_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    message = start_error(settings())
    assert "no java on the PATH" in message and "JAVA_HOME" in message


def test_pyspark_missing_says_install_the_spark_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyspark", None)  # how Python marks a module absent
    message = start_error(settings())
    assert "pip install 'houseofcare[spark]'" in message


#: The child: each failing start in turn, then a good one, in one Python process.
CHILD = textwrap.dedent(
    """
    import json, sys
    from houseofcare.settings import Settings
    from houseofcare.spark_session import SparkStartError, spark_plan, start_spark

    def settings(**values):
        return Settings(_env_prefix="HOC_TEST_UNUSED_", spark_master="local[1]", **values)

    QUICK = {"spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
    outcomes = {}
    for case, values in {
        "heap too small for Java": {"spark_driver_memory": "1k"},
        "heap too small for Spark": {"spark_driver_memory": "100m", "spark_config": QUICK},
        "value the launcher rejects": {"spark_config": {"spark.executor.memory": "lots"}},
        "value the session rejects": {
            "spark_driver_memory": "1g",
            "spark_config": {**QUICK, "spark.sql.shuffle.partitions": "lots"},
        },
    }.items():
        try:
            start_spark(settings(**values))
            outcomes[case] = "started"
        except SparkStartError as error:
            outcomes[case] = str(error)
    good = start_spark(settings(spark_driver_memory="1g", spark_config=QUICK))
    outcomes["good start"] = {
        "rows": good.range(3).count(),
        "driver memory": good.sparkContext.getConf().get("spark.driver.memory"),
        "shuffle partitions": good.conf.get("spark.sql.shuffle.partitions"),
    }
    good.stop()
    print(json.dumps(outcomes))
    """
)


@pytest.fixture(scope="module")
def java_outcomes() -> dict[str, Any]:
    """What each start in the child ended with (real JVMs; about 20-30 s in all)."""
    src = Path(__file__).resolve().parents[2] / "src"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert child.returncode == 0, child.stderr[-4000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_a_heap_java_cannot_make_names_the_driver_memory(java_outcomes: dict[str, Any]) -> None:
    message = java_outcomes["heap too small for Java"]
    assert "HOC_SPARK_DRIVER_MEMORY" in message and "'1k'" in message
    assert "maximum heap" in message  # Java's own words, not PySpark's "gateway exited"


def test_a_heap_spark_cannot_run_in_names_the_driver_memory(
    java_outcomes: dict[str, Any],
) -> None:
    message = java_outcomes["heap too small for Spark"]
    assert "HOC_SPARK_DRIVER_MEMORY" in message and "'100m'" in message
    assert "must be at least" in message


def test_a_value_the_launcher_rejects_names_its_key(java_outcomes: dict[str, Any]) -> None:
    message = java_outcomes["value the launcher rejects"]
    assert "spark.executor.memory" in message and "HOC_SPARK_CONFIG" in message
    assert "'lots'" in message


def test_a_value_the_session_rejects_fails_the_start_not_the_first_query(
    java_outcomes: dict[str, Any],
) -> None:
    message = java_outcomes["value the session rejects"]
    assert "spark.sql.shuffle.partitions" in message and "HOC_SPARK_CONFIG" in message
    assert "'lots'" in message


def test_a_good_start_after_failed_ones_gets_a_fresh_jvm(java_outcomes: dict[str, Any]) -> None:
    good = java_outcomes["good start"]
    assert good["rows"] == 3
    # not the JVM of the 100m start, which failed after Java was up
    assert good["driver memory"] == "1g"
    assert good["shuffle partitions"] == "2"


def test_spark_config_overrides_the_defaults_and_a_cluster_drops_the_local_ones() -> None:
    local = spark_plan(settings(spark_config={"spark.sql.shuffle.partitions": "8"}))
    assert local.config["spark.sql.shuffle.partitions"] == "8"
    assert local.config["spark.driver.host"] == "127.0.0.1"
    assert local.config["spark.driver.memory"] == "4g"
    cluster = spark_plan(settings(spark_master="spark://a:7077,b:7077"))
    # executors elsewhere must reach the driver by a routable address, not 127.0.0.1
    assert "spark.driver.host" not in cluster.config
    assert "spark.sql.shuffle.partitions" not in cluster.config
    assert cluster.config["spark.sql.session.timeZone"] == "UTC"
