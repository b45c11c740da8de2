"""The command line every benchmark shares."""

import argparse

from .report import load_average
from .servers import require_odoo, workspace


def main(doc, add_arguments, run, report):
    """Parse the options (``add_arguments(parser)`` adds the benchmark's own,
    ``--keep-logs`` is everyone's), check Odoo, ``run(args, workdir, odoo
    version)`` in a workspace, then ``report(args, odoo version, result)``."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args()
    odoo_version = require_odoo()
    args.load_before = load_average()
    with workspace(args.keep_logs) as workdir:
        result = run(args, workdir, odoo_version)
    report(args, odoo_version, result)
