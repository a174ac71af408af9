"""A local Spark session for the tests that run the analysis on Ibis's PySpark backend.

``SPARK_MISSING`` is None when PySpark imports and a Java runtime is found, else one line
saying what is missing and how to get it; ``spark_session()`` is one quiet ``local[2]``
session per process (each pytest-xdist worker has its own), started on first use (about 4 s)
and stopped when the interpreter exits. Use it from a test module like this::

    import pytest
    from tests._spark import SPARK_MISSING, spark_session

    pytestmark = pytest.mark.skipif(SPARK_MISSING is not None, reason=SPARK_MISSING or "")

    @pytest.fixture(scope="module")
    def spark_con():
        import ibis
        return ibis.pyspark.connect(spark_session())

Keep the Spark tests in one file: ``make test`` runs ``--dist loadfile``, so they then share
one worker and one JVM rather than starting a second one on a two-core machine.
"""

from __future__ import annotations

import atexit
import importlib.util
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["SPARK_MISSING", "spark_session"]

# Log4j 2 settings that keep the driver to errors and drop its start-up banner: with a config
# file Spark no longer says which default profile it uses, and a level set for PySpark's gateway
# (the "shell" whose level Spark compares with the root's) stops its "Setting default log
# level" lines. (The JVM's own "Using incubator modules" line remains.)
_LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
logger.gateway.name = org.apache.spark.api.python.PythonGatewayServer
logger.gateway.level = error
"""


def _java_found() -> bool:
    """Whether PySpark can start a JVM: ``$JAVA_HOME/bin/java`` when set, else ``java`` on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        return os.access(Path(java_home) / "bin" / "java", os.X_OK)
    return shutil.which("java") is not None


def _spark_missing() -> str | None:
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: run make test, which installs the [spark] extra"
    if not _java_found():
        return "no Java runtime: install openjdk-17-jre-headless (.ci/run does)"
    return None


SPARK_MISSING: str | None = _spark_missing()
"""None when the Spark tests can run, else why not (a ``skipif`` reason)."""


@cache
def spark_session() -> SparkSession:
    """This process's local Spark session (``local[2]``, UTC, no UI), made on first call.

    Tuned for small data: two shuffle partitions rather than 200 and no adaptive execution,
    so a 30k-row group-by, window or join takes ~0.1 s rather than ~0.2 s (adaptive on) or
    ~0.7 s (200 partitions, adaptive off). Arrow moves pandas frames in and out. The session
    is stopped at exit.
    """
    if SPARK_MISSING is not None:
        raise RuntimeError(SPARK_MISSING)
    from pyspark.sql import SparkSession

    # Bind to loopback: no hostname-resolution warning, nothing listening beyond the machine.
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    conf_dir = Path(tempfile.mkdtemp(prefix="verigator-spark-"))
    atexit.register(shutil.rmtree, conf_dir, ignore_errors=True)
    log4j2 = conf_dir / "log4j2.properties"
    log4j2.write_text(_LOG4J2, encoding="utf-8")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("verigator_nb tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.default.parallelism", "2")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={log4j2.as_uri()}")
        .config("spark.sql.warehouse.dir", str(conf_dir / "warehouse"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    atexit.register(session.stop)  # registered after rmtree, so it runs before it
    return session
