"""The benchmarks' own machinery (see bench/README.md), by concern, on top of
the project's test kit (``testkit``: Odoo servers, PostgreSQL, the simulator,
Stripe events):

* :mod:`.constants`: names, secrets, seed size;
* :mod:`.databases`: templates, throwaway clones, the seed multiplied by SQL;
* :mod:`.servers`: Odoo under load and its access log, the simulator;
* :mod:`.events`: signed Stripe events of the seeded payments;
* :mod:`.load`: HTTP requests, pools of clients, bursts, web sessions;
* :mod:`.stats`: percentiles and means;
* :mod:`.report`: the progress log, Markdown tables, docs/BENCHMARKS.md;
* :mod:`.cli`: the command line every benchmark shares.

The names the benchmark scripts use are re-exported here.
"""

from .constants import (
    DB_PREFIX,
    PORTAL_LOGIN,
    REPO,
    SEED_ORDERS,
    STRIPE_SECRET_KEY,
    WEBHOOK_SECRET,
)
from .databases import (
    Payment,
    analyze,
    clone_rows,
    config_param,
    ensure_template,
    multiply_orders,
    throwaway,
    wait_events_applied,
)
from .events import checkout_completed_event, signed_headers
from .load import burst, http_request, json_rpc, run_load, web_login
from .report import (
    load_average,
    log,
    machine_line,
    markdown_table,
    verdict,
    write_section,
)
from .servers import OdooServer, require_odoo, simulator_process, workspace
from .cli import main
from .stats import mean, ms, percentile
from testkit import db
