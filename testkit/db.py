"""PostgreSQL as the tests and benchmarks reach it: the settings of an Odoo
config (or of the ``OMOCHI_DB_*`` environment, as ``.ci/run`` reads them),
connections, and whole databases copied or dropped."""

import configparser
import contextlib
import os
import subprocess

#: Settings from the environment, with ``.ci/run``'s defaults.
ENV_SETTINGS = {
    "host": os.environ.get("OMOCHI_DB_HOST", "127.0.0.1"),
    "port": os.environ.get("OMOCHI_DB_PORT", "5432"),
    "user": os.environ.get("OMOCHI_DB_USER", "odoo"),
    "password": os.environ.get("OMOCHI_DB_PASSWORD", ""),
}


def settings(config=None):
    """``{host, port, user, password}`` of an Odoo config file, or of the
    environment without one."""
    if config is None:
        return dict(ENV_SETTINGS)
    parser = configparser.ConfigParser()
    parser.read(config)
    options = parser["options"]
    return {key: options.get(f"db_{key}") or "" for key in ENV_SETTINGS}


def connect(dbname="postgres", config=None, autocommit=False):
    """A psycopg2 connection to ``dbname`` (psycopg2 comes with Odoo)."""
    import psycopg2

    connection = psycopg2.connect(
        dbname=dbname,
        **{key: value or None for key, value in settings(config).items()},
    )
    connection.autocommit = autocommit
    return connection


def query(dbname, sql, params=None, config=None):
    """Run one statement in ``dbname`` (autocommit); return its rows or ``[]``."""
    with (
        contextlib.closing(connect(dbname, config, autocommit=True)) as connection,
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


def client_env(config=None):
    """The environment for PostgreSQL's command-line tools (``PGHOST``…)."""
    env = dict(os.environ)
    for key, value in settings(config).items():
        if value:
            env[f"PG{key.upper()}"] = value
    return env


def databases(like, config=None):
    """Names of the databases matching the SQL pattern ``like``."""
    rows = query(
        "postgres",
        "SELECT datname FROM pg_database WHERE datname LIKE %s",
        [like],
        config,
    )
    return [row[0] for row in rows]


def drop_database(name, config=None):
    """Drop ``name`` if it exists, closing its connections."""
    query("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', config=config)


def clone_database(template, name, config=None):
    """``name`` as a copy of ``template`` (which nobody may have open)."""
    drop_database(name, config)
    query("postgres", f'CREATE DATABASE "{name}" TEMPLATE "{template}"', config=config)
    return name


def copy_database(source, name, config=None):
    """``name`` as a dump of ``source`` restored, for a source that a running
    server keeps open (so that it cannot serve as a template)."""
    env = client_env(config)
    drop_database(name, config)
    query("postgres", f'CREATE DATABASE "{name}"', config=config)
    dump = subprocess.Popen(
        ["pg_dump", "--no-owner", source], env=env, stdout=subprocess.PIPE
    )
    restore = subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", name],
        env=env,
        stdin=dump.stdout,
        check=False,
    )
    dump.stdout.close()
    if dump.wait() or restore.returncode:
        raise RuntimeError(f"copying the database {source} to {name} failed")
    return name
