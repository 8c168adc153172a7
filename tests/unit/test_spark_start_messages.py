"""How `start_spark` reads Java's start-up output: the words a user sees, the setting named.

The Java lines below are Spark 4.3's own, captured from real failed starts on this machine
(the integration tests start the cheap ones for real; a master port that answers but is no
Spark master takes Spark's 3 x 20 s of retries, too long to start in a test).
"""

from __future__ import annotations

from typing import Any

from houseofcare.settings import Settings
from houseofcare.spark_session import SparkPlan, SparkStartError, explain, spark_plan

UNRESPONSIVE_MASTER = [
    "WARNING: Using incubator modules: jdk.incubator.vector",
    "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties",
    "26/12/07 15:25:44 WARN Utils: Set SPARK_LOCAL_IP if you need to bind to another address",
    'Setting default log level to "WARN".',
    "To adjust logging level use sc.setLogLevel(newLevel). For SparkR, use setLogLevel(newLevel).",
    "26/12/07 15:26:50 WARN StandaloneSchedulerBackend: Application ID is not initialized yet.",
    "26/12/07 15:26:50 ERROR StandaloneSchedulerBackend: Application has been killed. "
    "Reason: All masters are unresponsive! Giving up.",
    "26/12/07 15:26:52 ERROR TransportResponseHandler: Still have 3 requests outstanding when "
    "connection from 127.0.0.1/127.0.0.1:18977 is closed",
]

LAUNCHER_REJECTS_A_VALUE = [
    "Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties",
    'Exception in thread "main" org.apache.spark.SparkException: '
    "Executor memory must be a positive number",
    "\tat org.apache.spark.deploy.SparkSubmitArguments.error(SparkSubmitArguments.scala:650)",
    "\tat org.apache.spark.deploy.SparkSubmit.main(SparkSubmit.scala)",
]

JAVA_CANNOT_MAKE_THE_HEAP = ["Error occurred during initialization of VM", "Too small maximum heap"]

GATEWAY_EXITED = RuntimeError(
    "[JAVA_GATEWAY_EXITED] Java gateway process exited before sending its port number."
)


def plan(**values: Any) -> SparkPlan:
    """The plan for these settings and the defaults only (no HOC_* from the environment)."""
    return spark_plan(Settings(_env_prefix="HOC_TEST_UNUSED_", **values))  # type: ignore[call-arg]


def test_a_master_that_never_registers_the_run_names_the_master() -> None:
    chosen = plan(spark_master="spark://127.0.0.1:18977")
    stopped = SparkStartError("the Spark context stopped while starting")
    message = explain(stopped, UNRESPONSIVE_MASTER, chosen)
    assert message.startswith(
        "Spark could not start: Application has been killed. Reason: All masters are "
        "unresponsive! Giving up. Change HOC_SPARK_MASTER"
    )
    assert "'spark://127.0.0.1:18977'" in message
    assert "log level" not in message and "WARN" not in message


def test_the_launcher_s_exception_is_quoted_without_its_class_or_stack() -> None:
    chosen = plan(spark_config={"spark.executor.memory": "lots"})
    message = explain(GATEWAY_EXITED, LAUNCHER_REJECTS_A_VALUE, chosen)
    assert message == (
        "Spark could not start: Executor memory must be a positive number. Change "
        "spark.executor.memory in HOC_SPARK_CONFIG (spark_config in hoc.toml), now 'lots'"
    )


def test_java_s_own_words_replace_pyspark_s_gateway_exited() -> None:
    message = explain(GATEWAY_EXITED, JAVA_CANNOT_MAKE_THE_HEAP, plan(spark_driver_memory="1k"))
    assert "JAVA_GATEWAY_EXITED" not in message
    assert "Too small maximum heap" in message
    assert message.endswith(
        "Change HOC_SPARK_DRIVER_MEMORY (spark_driver_memory in hoc.toml), now '1k'"
    )


def test_a_failure_no_setting_explains_lists_every_spark_setting() -> None:
    message = explain(GATEWAY_EXITED, ["Something nobody foresaw"], plan())
    assert "Something nobody foresaw" in message
    for setting in ("HOC_SPARK_MASTER", "HOC_SPARK_DRIVER_MEMORY", "HOC_SPARK_CONFIG"):
        assert setting in message
