"""Reporting: the progress log, Markdown tables, the machine line and the
sections of docs/BENCHMARKS.md."""

import os
import re
import sys
import time

from testkit import db

from .constants import DOCS, REPO


def log(message):
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def markdown_table(headers, rows):
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" for _ in headers) + "|",
    ]
    lines.extend("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def load_average():
    return "/".join(f"{value:.1f}" for value in os.getloadavg())


def machine_line(odoo_version, load_before):
    """The machine, the versions, and the load averages (1/5/15 min) before
    and after the run: other work on the machine skews the figures."""
    [(pg_version,)] = db.query("postgres", "SHOW server_version")
    return (
        f"Machine: {os.cpu_count()} CPUs (`os.cpu_count()`), Odoo {odoo_version}, "
        f"PostgreSQL {pg_version}, Python {sys.version.split()[0]}; "
        f"run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average "
        f"{load_before} before, {load_average()} after."
    )


DOCS_HEADER = """# Benchmarks

Figures printed by the commands of `bench/` (see `bench/README.md`). Each
section between `bench:` markers is rewritten by its command; the rest of this
file is kept as written.
"""


def write_section(name, title, body):
    """Write (or replace) the section ``name`` of docs/BENCHMARKS.md, leaving
    every other section as it is."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n## {title}\n\n{body.strip()}\n{end}"
    DOCS.parent.mkdir(parents=True, exist_ok=True)
    text = DOCS.read_text() if DOCS.exists() else DOCS_HEADER
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block, text)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(text)
    log(f"wrote the section '{name}' of {DOCS.relative_to(REPO)}")


def verdict(met):
    return "met" if met else "**not met**"
