"""Odoo as the tests and benchmarks run it: one way to write a config, run a
command (install, ``shell`` script) and start and stop a server, threaded or
prefork, with cron threads, logging into a file."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import db, processes
from .ports import LOOPBACK, free_port
from .processes import STARTUP_TIMEOUT, wait_http

REPO = Path(__file__).resolve().parent.parent
#: The interpreter that imports Odoo 18 (``.ci/run`` exports the first).
PYTHON = (
    os.environ.get("OMOCHI_E2E_PYTHON") or os.environ.get("PYTHON") or sys.executable
)
STOP_TIMEOUT = 30
ADDONS = "omochi_orders,omochi_payments"


class OdooError(RuntimeError):
    """An Odoo command failed, or a server did not start; says where its log is."""


def addons_path(addons_root=None):
    """The addons path of this machine (``bin/odoo-addons-path``); with
    ``addons_root``, that folder replaces the repository in it (other copies
    of the addons, e.g. an optimisation to try)."""
    paths = subprocess.run(
        [str(REPO / "bin" / "odoo-addons-path")],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": PYTHON},
    ).stdout.strip()
    if addons_root is None:
        return paths
    root = Path(addons_root).resolve()
    return ",".join(
        str(root) if Path(path).resolve() == REPO else path for path in paths.split(",")
    )


def write_config(directory, addons_root=None, name="odoo.conf"):
    """Write an Odoo config into ``directory`` with the settings ``.ci/run``
    uses (PostgreSQL from ``OMOCHI_DB_*``, ``data_dir`` inside
    ``directory``); return its path."""
    settings = db.settings()
    config = Path(directory) / name
    config.write_text(
        "[options]\n"
        f"addons_path = {addons_path(addons_root)}\n"
        f"data_dir = {directory}/data\n"
        f"db_host = {settings['host']}\n"
        f"db_port = {settings['port']}\n"
        f"db_user = {settings['user']}\n"
        f"db_password = {settings['password']}\n"
        "list_db = False\n"
    )
    return config


def command(config, database, *args, shell=False):
    """The command line of ``python -m odoo [shell] -c config -d database args``."""
    subcommand = ["shell"] if shell else []
    return [PYTHON, "-m", "odoo", *subcommand, "-c", str(config), "-d", database, *args]


def run(config, database, *args, logfile, shell=False, stdin=None):
    """Run one Odoo command without HTTP to its end (``--stop-after-init``
    unless ``shell``), logging into ``logfile``; return its standard output.

    :raise OdooError: when it fails (with the end of its log).
    """
    extra = [] if shell else ["--stop-after-init"]
    done = subprocess.run(
        command(
            config,
            database,
            *args,
            *extra,
            "--no-http",
            f"--logfile={logfile}",
            shell=shell,
        ),
        input=stdin,
        text=True,
        capture_output=True,
        cwd=REPO,
        check=False,
    )
    if done.returncode:
        tail = Path(logfile).read_text()[-3000:] if Path(logfile).exists() else ""
        raise OdooError(
            f"{' '.join(args) or 'odoo shell'} on {database} failed "
            f"({done.returncode}); see {logfile}\n{done.stderr[-2000:]}\n{tail}"
        )
    return done.stdout


def install(config, database, logfile, modules=ADDONS, demo=True):
    """Install ``modules`` on a new (or existing) ``database``."""
    demo_args = [] if demo else ["--without-demo=all"]
    run(
        config, database, "-i", modules, *demo_args, "--log-level=warn", logfile=logfile
    )


def shell(config, database, script, logfile):
    """Run the Python ``script`` (text) in ``odoo shell`` (``env`` at hand;
    the repository's root importable); return what it printed."""
    return run(
        config, database, "--log-level=warn", logfile=logfile, shell=True, stdin=script
    )


SEED_MARK = "testkit-seed-result: "


def seed(config, database, logfile, module, **options):
    """Run ``module.seed(env, **options)`` (a seed module, e.g.
    ``"bench.seeds.omochi"``) in ``odoo shell``, commit, and return what it
    returned (JSON)."""
    script = (
        "import importlib, json\n"
        f"options = json.loads({json.dumps(json.dumps(options))})\n"
        f"result = importlib.import_module({module!r}).seed(env, **options)\n"
        "env.cr.commit()\n"
        f"print({SEED_MARK!r} + json.dumps(result))\n"
    )
    output = shell(config, database, script, logfile)
    [line] = [line for line in output.splitlines() if line.startswith(SEED_MARK)]
    return json.loads(line[len(SEED_MARK) :])


def stripe_environment(api_base=None, secret_key=None, webhook_secrets=()):
    """The environment variables that point a server at a Stripe (DESIGN §5)."""
    env = {}
    if api_base:
        env["STRIPE_API_BASE"] = api_base
    if secret_key:
        env["STRIPE_SECRET_KEY"] = secret_key
    if webhook_secrets:
        env["STRIPE_WEBHOOK_SECRET"] = ",".join(webhook_secrets)
    return env


class OdooServer:
    """An Odoo server process on ``database``, on a free loopback port.

    ``workers=0`` is the threaded server; ``workers=N`` Odoo's prefork
    server (its own gevent port too). ``cron_threads`` are Odoo's cron
    threads, or cron worker processes when prefork. The process leads a
    process group of its own: :meth:`kill` SIGKILLs every process of the
    server at once, as a machine dying would. ``db_filter`` restricts the
    server to the database, as the tests do; a benchmark leaves it out
    (a single-database production server, no ``pg_database`` query per
    request). Use as a context manager, or :meth:`start` / :meth:`stop`.
    """

    def __init__(
        self,
        config,
        database,
        logfile,
        *,
        workers=0,
        cron_threads=0,
        env=None,
        args=(),
        db_filter=True,
        log_level=None,
        port=None,
    ):
        self.config = Path(config)
        self.database = database
        self.logfile = Path(logfile)
        self.workers = workers
        self.cron_threads = cron_threads
        self.env = dict(env or {})
        self.args = list(args)
        self.db_filter = db_filter
        self.log_level = log_level
        self.port = port or free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.process = None

    def command(self):
        args = [
            "--http-interface=" + LOOPBACK,
            f"--http-port={self.port}",
            f"--workers={self.workers}",
            f"--max-cron-threads={self.cron_threads}",
            f"--logfile={self.logfile}",
        ]
        if self.workers:
            args.append(f"--gevent-port={free_port()}")
        if self.db_filter:
            args.append(f"--db-filter=^{self.database}$")
        if self.log_level:
            args.append(f"--log-level={self.log_level}")
        return command(self.config, self.database, *args, *self.args)

    @property
    def pid(self):
        return self.process.pid if self.process else None

    def running(self):
        return self.process is not None and self.process.poll() is None

    def start(self, timeout=STARTUP_TIMEOUT):
        """Start the server and wait until ``/web/health`` answers.

        :raise OdooError: when it dies or does not answer in ``timeout`` s.
        """
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        with open(f"{self.logfile}.stderr", "ab") as stderr:
            self.process = subprocess.Popen(
                self.command(),
                cwd=REPO,
                env={**os.environ, **self.env},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                start_new_session=True,
            )
        try:
            if not wait_http(f"{self.url}/web/health", self.running, timeout):
                raise OdooError(f"Odoo did not start on {self.url}; see {self.logfile}")
        except BaseException:
            self.kill()  # never leave a server behind a failed start
            raise
        return self

    def freeze(self):
        """SIGSTOP every process of the server: it accepts connections (the
        kernel does) and answers none, as a hanging machine."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def kill(self):
        """SIGKILL every process of the server (master, workers, cron)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=STOP_TIMEOUT)

    def stop(self, timeout=STOP_TIMEOUT):
        """Stop gracefully (Odoo finishes the requests under way); SIGKILL
        what is left after ``timeout`` seconds."""
        processes.stop(self.process, timeout)
        self.kill()  # what the master left behind, if anything

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def mark(self):
        """The current end of the log (give it to :meth:`log_text`)."""
        time.sleep(0.3)  # let the workers write their last lines
        return self.logfile.stat().st_size if self.logfile.exists() else 0

    def log_text(self, start=0, end=None):
        """The log between two marks."""
        with open(self.logfile, "rb") as handle:
            handle.seek(start)
            data = handle.read() if end is None else handle.read(end - start)
        return data.decode("utf-8", "replace")
