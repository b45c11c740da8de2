"""Names and settings shared by the benchmarks."""

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
DOCS = REPO / "docs" / "BENCHMARKS.md"
# Several people benchmarking on one PostgreSQL set their own prefix.
DB_PREFIX = os.environ.get("OMOCHI_BENCH_DB_PREFIX", "omochi_bench")
WEBHOOK_SECRET = "whsec_omochi_bench"
STRIPE_SECRET_KEY = "sk_test_omochi_bench"
PORTAL_LOGIN = "bench_portal"
SEED_ORDERS = 10
# A folder holding other copies of omochi_orders/omochi_payments (e.g. with an
# optimisation to try) replaces the repository's in the addons path.
ADDONS = Path(os.environ.get("OMOCHI_BENCH_ADDONS") or REPO).resolve()
