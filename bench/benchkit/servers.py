"""Processes of a benchmark: this machine's Odoo, the Odoo servers under
load (prefork, INFO log whose werkzeug lines end with ``<queries> <query
time> <remaining time>``), the Stripe simulator, and a workspace for their
configs and logs."""

import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from testkit import odoo, processes, simulator
from testkit.ports import free_port

from .constants import ADDONS, STRIPE_SECRET_KEY, WEBHOOK_SECRET
from .report import log

PYTHON = odoo.PYTHON


def require_odoo():
    """Return Odoo's version, or exit with a clear message when ``PYTHON``
    cannot import Odoo 18 (the benchmarks run this machine's Odoo)."""
    probe = subprocess.run(
        [PYTHON, "-c", "import odoo.release as r; print(r.version)"],
        capture_output=True,
        text=True,
        check=False,
    )
    version = probe.stdout.strip()
    if probe.returncode or not version.startswith("18."):
        sys.exit(
            f"ERROR: '{PYTHON}' cannot import Odoo 18.0 "
            f"(found: {version or 'no odoo package'}).\n"
            "The benchmarks start this machine's Odoo (python3 -m odoo): install "
            "Odoo 18.0 for this Python as README.md, Prerequisites, says, or set "
            "PYTHON to an interpreter that imports it."
        )
    return version


class OdooServer(odoo.OdooServer):
    """``python3 -m odoo --workers=2`` on ``dbname`` (loopback, free port, no
    cron threads unless ``cron_threads``, INFO log in ``workdir``), Stripe's
    secrets in its environment.

    ``-d`` without ``--db-filter``, as a single-database production server:
    Odoo then does not list the databases on every request (a filter would
    add a ``pg_database`` query to each one, the no-op route included)."""

    def __init__(
        self, dbname, workdir, workers=2, env=None, log_sql=False, cron_threads=0
    ):
        workdir = Path(workdir)
        port = free_port()
        environment = {
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_SECRET_KEY": STRIPE_SECRET_KEY,
            **(env or {}),
        }
        super().__init__(
            odoo.write_config(workdir, ADDONS),
            dbname,
            workdir / f"odoo_{dbname}_{port}.log",
            workers=workers,
            cron_threads=cron_threads,
            env=environment,
            args=["--limit-time-real=300", *(["--log-sql"] if log_sql else [])],
            db_filter=False,
            log_level="info",
            port=port,
        )
        self.dbname = dbname

    def start(self, timeout=odoo.STARTUP_TIMEOUT):
        try:
            super().start(timeout)
        except odoo.OdooError as error:
            sys.exit(f"ERROR: {error}")
        log(
            f"Odoo (workers={self.workers}, cron threads={self.cron_threads}) "
            f"serves {self.dbname} at {self.url}"
        )
        return self

    def access_log(self, start=0, end=None, path=None):
        """Parsed werkzeug lines between two marks (optionally one path)."""
        entries = parse_access_log(self.log_text(start, end))
        return [e for e in entries if path is None or e.path.startswith(path)]

    def count_log(self, pattern, start=0, end=None):
        return len(re.findall(pattern, self.log_text(start, end), re.MULTILINE))


@contextlib.contextmanager
def simulator_process():
    """Run the project's Stripe simulator (``python -m stripe_sim``) on a free
    loopback port, accepting the benchmarks' key; yield its URL."""
    try:
        with simulator.SimulatorProcess(STRIPE_SECRET_KEY) as process:
            yield process.url
    except processes.ServiceError as error:
        sys.exit(f"ERROR: {error}")


ACCESS_LINE = re.compile(
    r"^\S+ \S+ (?P<pid>\d+) \w+ \S+ werkzeug: \S+ - - \[[^\]]*\] "
    r'"(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d{3}) \S+ '
    r"(?P<queries>\d+) (?P<query_time>[\d.]+) (?P<other_time>[\d.]+)",
    re.MULTILINE,
)


@dataclass
class AccessEntry:
    pid: int
    method: str
    path: str
    status: int
    queries: int
    query_time: float
    other_time: float


def parse_access_log(text):
    return [
        AccessEntry(
            int(m["pid"]),
            m["method"],
            m["path"],
            int(m["status"]),
            int(m["queries"]),
            float(m["query_time"]),
            float(m["other_time"]),
        )
        for m in ACCESS_LINE.finditer(text)
    ]


@contextlib.contextmanager
def workspace(keep=False):
    """A temporary directory for configs and logs (kept with ``keep``)."""
    directory = tempfile.mkdtemp(prefix="omochi-bench-")
    try:
        yield Path(directory)
    finally:
        if keep:
            log(f"logs kept in {directory}")
        else:
            shutil.rmtree(directory, ignore_errors=True)
