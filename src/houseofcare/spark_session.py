"""Starting Apache Spark for `--engine spark`: one place, so every way in starts it alike.

PySpark is imported only here and only when a session is asked for, so the DuckDB path never
needs Java or PySpark.

`start_spark(settings)` is the way the commands start Spark. Every way start-up can fail ends
in one `SparkStartError` whose message says what went wrong and which setting to change, and
start-up happens before any store is opened, so a Spark that cannot start changes nothing.
What can be checked without Java (the master URL, the driver memory, the config keys, Java
itself, a cluster master that does not answer) is checked first, so those errors are immediate;
what only Java can tell (a config value it rejects, a heap it cannot give) is read from Java's
own start-up output. A failed start leaves no half-started JVM behind: a later start in the
same process begins afresh.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import sys
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from houseofcare.settings import Settings

#: Tuned for a small machine and for batch runs: no UI, few shuffle partitions, UTC.
SPARK_DEFAULTS: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

#: For data of a few rows (the spec tests' records, the SQL-on-FHIR conformance suite), where
#: Spark's fixed costs dominate: no adaptive re-planning, no code generation, no broadcast
#: jobs, one shuffle partition, the quick JIT tier. A process keeps one JVM, made by whichever
#: session starts first, so every small-data session asks for the same 2 GB heap (with 1 GB the
#: conformance suite thrashed the collector).
SMALL_DATA_CONFIG: dict[str, str] = {
    "spark.driver.memory": "2g",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.autoBroadcastJoinThreshold": "-1",
    "spark.sql.shuffle.partitions": "1",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
}

#: Defaults that hold only when Spark runs on this machine: on a cluster the executors must
#: reach the driver by a routable address, and a cluster has more than two cores to share.
LOCAL_ONLY = frozenset(
    {
        "spark.driver.host",
        "spark.driver.bindAddress",
        "spark.default.parallelism",
        "spark.sql.shuffle.partitions",
    }
)

#: How long a cluster master's host:port has to answer before we give up on it.
MASTER_CONNECT_TIMEOUT_S = 5.0


def spark_session(master: str = "local[2]", **config: str) -> SparkSession:
    """A local Spark session tuned for this kind of machine (no UI, few shuffle partitions).

    Start-up takes about 8-10 s, so make one per process and reuse it. Extra `config` entries
    (e.g. ``{"spark.driver.memory": "4g"}``) override the defaults. Errors are PySpark's own;
    the commands use `start_spark`, which explains them.
    """
    return _session(master, {**SPARK_DEFAULTS, **config})


class SparkStartError(RuntimeError):
    """Spark could not start; the message names the setting or environment variable to change."""


# --- what each setting is called where a user changes it ------------------------------------

MASTER = "HOC_SPARK_MASTER (spark_master in hoc.toml)"
DRIVER_MEMORY = "HOC_SPARK_DRIVER_MEMORY (spark_driver_memory in hoc.toml)"
CONFIG = "HOC_SPARK_CONFIG (spark_config in hoc.toml)"
INSTALL = "pip install 'houseofcare[spark]'"

#: Spark settings that have a setting of their own, so a run has one answer for each.
OWN_SETTINGS = {"spark.master": MASTER, "spark.driver.memory": DRIVER_MEMORY}

_LOCAL = re.compile(r"local(\[(\*|[1-9][0-9]*)(\s*,\s*[1-9][0-9]*)?\])?")
_LOCAL_CLUSTER = re.compile(r"local-cluster\[\s*[1-9][0-9]*(\s*,\s*[1-9][0-9]*){2}\s*\]")
_STANDALONE = re.compile(r"spark://[^,/\s]+(,[^,/\s]+)*")
_KUBERNETES = re.compile(r"k8s://\S+")
_MEMORY = re.compile(r"([1-9][0-9]*)([kmgt])", re.IGNORECASE)
_UNITS = {"k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}

#: Java's words for a failure, and the setting each points at (a Spark key means that key in
#: spark_config). Checked in order, on Java's start-up output and on the error PySpark
#: raised, after the user's own spark_config keys; the first that matches names the setting.
JAVA_CLUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"All masters are unresponsive|Failed to connect to master", re.I), MASTER),
    (re.compile(r"Master URL|Master must", re.I), MASTER),
    (
        re.compile(
            r"heap size|maximum heap|reserve enough space|System memory .* must be at least"
            r"|driver-memory|Xmx",
            re.I,
        ),
        DRIVER_MEMORY,
    ),
    (
        re.compile(r"UnsupportedClassVersionError|class file version", re.I),
        "JAVA_HOME (Spark 4 needs Java 17 or 21)",
    ),
    (re.compile(r"Executor memory", re.I), "spark.executor.memory"),
)


@dataclass(frozen=True)
class SparkPlan:
    """What `start_spark` will ask Spark for, resolved from the settings and checked."""

    master: str
    config: dict[str, str]
    user_config: dict[str, str]
    driver_memory: str


def start_spark(settings: Settings) -> SparkSession:
    """Start Spark from the settings (master, driver memory, `spark_config` over the defaults).

    Raises `SparkStartError` naming what to change when PySpark is missing, Java is missing,
    the master URL is malformed or its cluster does not answer, the driver memory is malformed
    or more than this machine has, or Spark rejects a setting. If a session is already running
    in this process it is returned, with the SQL settings applied (Spark's rule: one JVM, one
    context per process).
    """
    plan = spark_plan(settings)
    try:
        import pyspark  # noqa: F401
    except ImportError as error:
        raise SparkStartError(
            f"PySpark is not installed ({error}); --engine spark needs the spark extra: {INSTALL}"
        ) from error
    check_java()
    check_master_answers(plan.master)
    return _launch(plan)


def spark_plan(settings: Settings) -> SparkPlan:
    """The master and config to start with, after the checks that need no Java."""
    master = settings.spark_master.strip()
    if not master:
        raise SparkStartError(f"{MASTER} is empty; {_MASTER_FORMS}")
    check_master_url(master)
    user_config = dict(settings.spark_config)
    check_config_keys(user_config)
    memory = settings.spark_driver_memory.strip()
    check_driver_memory(memory)
    local = master.startswith("local")
    defaults = {k: v for k, v in SPARK_DEFAULTS.items() if local or k not in LOCAL_ONLY}
    config = {**defaults, "spark.driver.memory": memory, **user_config}
    return SparkPlan(master=master, config=config, user_config=user_config, driver_memory=memory)


_MASTER_FORMS = (
    "use local[N] (N cores of this machine, or local[*] for all), spark://host:7077 for a "
    "standalone cluster, yarn, or k8s://https://host:port"
)


def check_master_url(master: str) -> None:
    """A master URL Spark understands; Spark's own message for a bad one names no setting."""
    if (
        any(
            pattern.fullmatch(master)
            for pattern in (_LOCAL, _LOCAL_CLUSTER, _STANDALONE, _KUBERNETES)
        )
        or master == "yarn"
    ):
        return
    raise SparkStartError(
        f"{MASTER} is {master!r}, which is not a Spark master URL; {_MASTER_FORMS}"
    )


def check_config_keys(config: dict[str, str]) -> None:
    """Spark settings only: Spark ignores other keys with a warning, so a typo would pass."""
    for key in config:
        if key in OWN_SETTINGS:
            raise SparkStartError(
                f"{CONFIG} sets {key!r}, which has a setting of its own: use {OWN_SETTINGS[key]}"
            )
        if not key.startswith("spark."):
            raise SparkStartError(
                f"{CONFIG} has {key!r}, which is not a Spark setting (they begin 'spark.'; "
                f"Hadoop's, such as fs.s3a.endpoint, go as spark.hadoop.<key>)"
            )


def check_driver_memory(memory: str) -> None:
    """A size Java's -Xmx takes (a number and k, m, g or t) and this machine has.

    Java starts with a heap far beyond the machine's memory and fails only when it is used,
    mid-run; so a driver memory above the machine's is refused here, before anything starts.
    """
    found = _MEMORY.fullmatch(memory)
    if found is None:
        raise SparkStartError(
            f"{DRIVER_MEMORY} is {memory!r}, which is not a memory size; give a number and "
            f"a unit, k, m, g or t, e.g. 4g or 512m"
        )
    wanted = int(found.group(1)) * _UNITS[found.group(2).lower()]
    machine = physical_memory()
    if machine is not None and wanted > machine:
        raise SparkStartError(
            f"{DRIVER_MEMORY} is {memory!r}, more than this machine's memory "
            f"({machine / 2**30:.1f} GiB); the Spark driver runs here, so give it less, e.g. "
            f"{max(1, int(machine * 0.5 / 2**30))}g"
        )


def physical_memory() -> int | None:
    """This machine's memory in bytes, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, OSError, ValueError):
        return None


def check_java() -> None:
    """Java where Spark's launcher looks: $JAVA_HOME/bin/java, else `java` on the PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        java = Path(java_home) / "bin" / "java"
        if not (java.is_file() and os.access(java, os.X_OK)):
            raise SparkStartError(
                f"JAVA_HOME is {java_home!r}, but there is no {java}; point JAVA_HOME at a "
                f"Java 17 or 21 installation (the folder holding bin/java), or unset it to use "
                f"the java on the PATH"
            )
    elif shutil.which("java") is None:
        raise SparkStartError(
            "Spark needs Java 17 or 21, and there is no java on the PATH and JAVA_HOME is not "
            "set; install Java (e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )


def master_addresses(master: str) -> list[tuple[str, int]]:
    """The host:port pairs a cluster master URL names (none for local and YARN)."""
    if master.startswith("spark://"):
        addresses = []
        for part in master.removeprefix("spark://").split(","):
            parsed = urlsplit(f"//{part}")
            addresses.append((parsed.hostname or "", parsed.port or 7077))
        return addresses
    if master.startswith("k8s://"):
        target = master.removeprefix("k8s://")
        parsed = urlsplit(target if "://" in target else f"https://{target}")
        return [(parsed.hostname or "", parsed.port or (80 if parsed.scheme == "http" else 443))]
    return []


def check_master_answers(master: str, timeout: float = MASTER_CONNECT_TIMEOUT_S) -> None:
    """A cluster master that answers on its port, asked before Java starts.

    Spark itself retries a master that does not register it for 3 x 20 s and then hands back a
    stopped context; a refused or unreachable port is known at once.
    """
    addresses = master_addresses(master)
    failures = []
    for host, port in addresses:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return
        except OSError as error:
            failures.append(f"{host}:{port}: {error.strerror or error}")
    if failures:
        raise SparkStartError(
            f"{MASTER} is {master!r}, and its master does not answer ({'; '.join(failures)}); "
            f"check the cluster is up and the host and port are right"
        )


# --- starting Java and Spark -----------------------------------------------------------------


class _JavaOutput:
    """Java's output, read as it comes: held during start-up, then passed on to ours.

    Held so a failed start can be explained from Java's own words (and its stack trace not
    shown as well); passed on after a good start, so Spark's later messages still reach the
    terminal as they did before. Read by a thread from the first byte, so Java never blocks on
    a full pipe.
    """

    def __init__(self, read_end: int) -> None:
        self._held: deque[bytes] | None = deque(maxlen=400)
        self._seen: deque[str] = deque(maxlen=400)
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._pump, args=(read_end,), name="spark-java-stderr", daemon=True
        )
        self._thread.start()

    def _pump(self, read_end: int) -> None:
        with os.fdopen(read_end, "rb") as stream:
            for line in stream:
                with self._lock:
                    self._seen.append(line.decode("utf-8", "replace").rstrip())
                    if self._held is not None:
                        self._held.append(line)
                        continue
                _to_stderr(line)

    def release(self) -> None:
        """Start-up went well: show what Java said, and everything it says from now on."""
        with self._lock:
            held, self._held = self._held or deque(), None
            for line in held:
                _to_stderr(line)

    def lines(self, wait: float = 0.0) -> list[str]:
        """What Java has said so far (waiting up to `wait` s for it to finish saying it)."""
        self._thread.join(wait)
        with self._lock:
            return list(self._seen)


def _to_stderr(line: bytes) -> None:
    with contextlib.suppress(OSError):
        os.write(2, line)


def _launch(plan: SparkPlan) -> SparkSession:
    """Start (or reuse) the JVM and the session; on any failure, undo and explain."""
    from pyspark import SparkConf
    from pyspark.core.context import SparkContext

    output: _JavaOutput | None = None
    launched = SparkContext._gateway is None
    try:
        if launched:
            conf = SparkConf(loadDefaults=False).setMaster(plan.master).setAppName("houseofcare")
            conf.setAll(list(plan.config.items()))
            read_end, write_end = os.pipe()
            output = _JavaOutput(read_end)
            _launch_gateway(conf, write_end)
        session = _session(plan.master, plan.config)
        _check_session(session, plan)
    except Exception as error:
        # explained before the JVM is stopped: PySpark's errors ask the JVM for their text
        message = explain(error, output.lines(wait=5.0) if output else [], plan)
        if launched:
            _stop_everything()
        raise SparkStartError(message) from error
    if output is not None:
        output.release()
    return session


def _session(master: str, config: dict[str, str]) -> SparkSession:
    """The session with exactly this config (PySpark's own errors, unexplained)."""
    from pyspark.sql import SparkSession

    # Spark's Python workers (the risk model's `mapInArrow`) run this interpreter, with this
    # environment's packages, not whatever `python3` is first on the PATH (PySpark reads the
    # variable, not the `spark.pyspark.python` setting, when it starts in this process)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("houseofcare")
    for key, value in config.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def _launch_gateway(conf: Any, write_end: int) -> None:
    """PySpark's own gateway launch, with Java's output read by us (see `_JavaOutput`).

    Both streams: Java reports a heap it cannot make on stdout, and the launcher's exceptions
    on stderr. After start-up both go to our stderr, so Java never writes into a command's
    own output (a CSV on stdout, say).
    """
    from pyspark.core.context import SparkContext
    from pyspark.java_gateway import launch_gateway

    try:
        gateway = launch_gateway(conf, popen_kwargs={"stdout": write_end, "stderr": write_end})
    finally:
        os.close(write_end)
    SparkContext._ensure_initialized(gateway=gateway)


def _check_session(session: SparkSession, plan: SparkPlan) -> None:
    """Make Spark read every setting now, not at the first query of a long run.

    Spark checks SQL settings when the session's state is first built, and a standalone
    master that never registers the application leaves a stopped context behind.
    """
    if session.sparkContext._jsc is None or session.sparkContext._jsc.sc().isStopped():
        raise SparkStartError("the Spark context stopped while starting")
    for key, value in plan.user_config.items():
        if key.startswith("spark.sql.") and session.conf.isModifiable(key):
            session.conf.set(key, value)
    session.conf.get("spark.sql.session.timeZone")


def _stop_everything() -> None:
    """Undo a failed start: the session, the context and the JVM we launched for it.

    A context that failed half-way stays registered in PySpark and its JVM keeps the failed
    start's settings (its heap, above all), so without this a good start later in the same
    process would fail too.
    """
    from pyspark.core.context import SparkContext
    from pyspark.sql import SparkSession

    active = SparkSession._instantiatedSession
    if active is not None:
        # the JVM may already be gone; the rest still has to be undone
        with contextlib.suppress(Exception):
            active.stop()
    SparkSession._instantiatedSession = None
    SparkSession._activeSession = None
    context = SparkContext._active_spark_context
    if context is not None:
        with contextlib.suppress(Exception):
            context.stop()
    SparkContext._active_spark_context = None
    gateway = SparkContext._gateway
    if gateway is not None:
        process = getattr(gateway, "proc", None)
        with contextlib.suppress(Exception):
            gateway.shutdown()
        if process is not None:
            process.kill()
            process.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


def explain(error: BaseException, java_said: list[str], plan: SparkPlan) -> str:
    """The message for a start that failed inside Spark or Java: what, and which setting.

    Java's own words come first when it said any (PySpark's "gateway exited" says nothing of
    why); the setting is the user's config key Java names, else the one its words point at.
    """
    thrown, other = _java_messages(java_said)
    pyspark = _first_line(error)
    if isinstance(error, SparkStartError) and not (thrown or other):
        return str(error)
    if thrown:
        reason = thrown[0]
    elif "JAVA_GATEWAY_EXITED" not in pyspark:
        reason = pyspark
    else:  # Java died before Spark could say why: Java's own last words
        reason = "; ".join(other[:2]) or pyspark
    words = [*thrown, *other, pyspark]
    setting = _setting_named(words, plan)
    if setting is None:
        return (
            f"Spark could not start: {reason}. Check {_describe(MASTER, plan)}; "
            f"{_describe(DRIVER_MEMORY, plan)}; and {CONFIG}"
        )
    return f"Spark could not start: {reason}. Change {_describe(setting, plan)}"


def _setting_named(words: list[str], plan: SparkPlan) -> str | None:
    """The setting Java's words point at: a user's config key it names, else a known clue."""
    text = "\n".join(words)
    for key in plan.user_config:
        if key in text:
            return key
    for pattern, setting in JAVA_CLUES:
        if pattern.search(text):
            return setting
    return None


def _describe(setting: str, plan: SparkPlan) -> str:
    """A setting as the user changes it, with the value it has now."""
    if setting == MASTER:
        return f"{MASTER}, now {plan.master!r}"
    if setting == DRIVER_MEMORY:
        return f"{DRIVER_MEMORY}, now {plan.driver_memory!r}"
    if setting.startswith("spark."):
        now = plan.config.get(setting)
        return f"{setting} in {CONFIG}" + (f", now {now!r}" if now is not None else "")
    return setting


_NOISE = re.compile(
    r"^(\s+at |\s*\.\.\. \d+ more|WARNING: |Using Spark's default log4j|\s*$"
    r"|.*Error initializing SparkContext|Setting default log level|To adjust logging level)"
)
_THROWN = re.compile(r'^(Exception in thread "[^"]*" )?(Caused by: )?([\w$.]+(Exception|Error): )')
_LOG_LINE = re.compile(r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (\w+) [\w$.]+: ")


def _java_messages(lines: list[str]) -> tuple[list[str], list[str]]:
    """Java's meaningful lines: exceptions and errors logged, then anything else it said.

    Stack frames, warnings and routine log lines are left out, and so are the class names
    and timestamps, which say nothing to the person who has to change a setting.
    """
    thrown: list[str] = []
    other: list[str] = []
    for raw in lines:
        line = raw.strip()
        level = _LOG_LINE.match(line)
        if _NOISE.match(raw) or (level and level.group(1) != "ERROR"):
            continue
        if _THROWN.match(line):
            thrown.append(_THROWN.sub("", line).rstrip("."))
        elif level:
            thrown.append(_LOG_LINE.sub("", line).rstrip("."))
        else:
            other.append(line.rstrip("."))
    return list(dict.fromkeys(thrown)), list(dict.fromkeys(other))


def _first_line(error: BaseException) -> str:
    """PySpark's error, short: its first line with the Java class names taken off."""
    try:
        text = str(error).strip()
    except Exception:  # a PySpark error whose JVM has gone cannot say more
        text = type(error).__name__
    text = text.split("\n: ", 1)[-1] if "\n: " in text else text
    first = text.splitlines()[0] if text else type(error).__name__
    return _THROWN.sub("", first).rstrip(".")
