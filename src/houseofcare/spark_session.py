"""Starting Apache Spark for `--engine spark`: one place, so every way in starts it alike.

PySpark is imported only here and only when a session is asked for, so the DuckDB path never
needs Java or PySpark.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from houseofcare.settings import Settings


def spark_session(master: str = "local[2]", **config: str) -> SparkSession:
    """A local Spark session tuned for this kind of machine (no UI, few shuffle partitions).

    Start-up takes about 8-10 s, so make one per process and reuse it. Extra `config` entries
    (e.g. ``{"spark.driver.memory": "4g"}``) override the defaults.
    """
    from pyspark.sql import SparkSession

    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": "2",
        "spark.default.parallelism": "2",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        **config,
    }
    # Spark's Python workers (the risk model's `mapInArrow`) run this interpreter, with this
    # environment's packages, not whatever `python3` is first on the PATH (PySpark reads the
    # variable, not the `spark.pyspark.python` setting, when it starts in this process)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("houseofcare")
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


class SparkStartError(RuntimeError):
    """Spark could not start; the message names the setting to change."""


def start_spark(settings: Settings) -> SparkSession:
    """Spark as the settings say (master, driver memory, further config)."""
    return spark_session(
        settings.spark_master,
        **{"spark.driver.memory": settings.spark_driver_memory, **settings.spark_config},
    )
