"""Constants of the Omochi Payments addon (statuses, configuration keys, events)."""

import re

# Transaction statuses (DESIGN §4), in the order of the status bar. The selection
# keys are lower-case; the API exposes the upper-case name (see `api_status`).
STATUS_PENDING = "pending"
STATUS_PROCESSING = "processing"
STATUS_COMPLETED = "completed"
STATUS_FAILED = "failed"
STATUS_CANCELLED = "cancelled"
STATUS_EXPIRED = "expired"
STATUS_PARTIALLY_REFUNDED = "partially_refunded"
STATUS_REFUNDED = "refunded"

STATUS_SELECTION = [
    (STATUS_PENDING, "Pending"),
    (STATUS_PROCESSING, "Processing"),
    (STATUS_COMPLETED, "Completed"),
    (STATUS_FAILED, "Failed"),
    (STATUS_CANCELLED, "Cancelled"),
    (STATUS_EXPIRED, "Expired"),
    (STATUS_PARTIALLY_REFUNDED, "Partially Refunded"),
    (STATUS_REFUNDED, "Refunded"),
]
STATUSES = tuple(key for key, _label in STATUS_SELECTION)

# Statuses in which the checkout session is still open at Stripe.
OPEN_STATUSES = (STATUS_PENDING, STATUS_PROCESSING)

# Statuses that no Stripe event can move back to PENDING/PROCESSING/FAILED. A FAILED
# transaction is not final: a failed card attempt on a still-open session may be
# followed by a successful one (DESIGN §4). Completed transactions may still be
# refunded, which only moves them between the "paid" statuses.
FINAL_STATUSES = (
    STATUS_COMPLETED,
    STATUS_CANCELLED,
    STATUS_EXPIRED,
    STATUS_PARTIALLY_REFUNDED,
    STATUS_REFUNDED,
)

# Statuses meaning the money was received (possibly refunded since).
PAID_STATUSES = (STATUS_COMPLETED, STATUS_PARTIALLY_REFUNDED, STATUS_REFUNDED)


def api_status(status):
    """Return the API value of a transaction status (its upper-case name).

    :param str status: A selection key of `STATUS_SELECTION`, e.g. ``"completed"``.
    :return: The API value, e.g. ``"COMPLETED"``, or ``None`` for an empty status.
    :rtype: str | None
    """
    return status.upper() if status else None


# Webhook event processing states of `omochi.payment.event`.
EVENT_STATE_SELECTION = [
    ("pending", "Pending"),
    ("done", "Done"),
    ("ignored", "Ignored"),
    ("failed", "Failed"),
]

# Configuration keys (DESIGN §5). Each key is looked up, in order, in the process
# environment (upper-case name), in the `[options]` of odoo.conf (lower-case name)
# and in the company field named below; the default applies when all are empty.
CONFIG_KEYS = {
    # key: (environment variable, odoo.conf option, res.company field, default)
    "publishable_key": (
        "STRIPE_PUBLISHABLE_KEY",
        "stripe_publishable_key",
        "omochi_stripe_publishable_key",
        "",
    ),
    "secret_key": (
        "STRIPE_SECRET_KEY",
        "stripe_secret_key",
        "omochi_stripe_secret_key",
        "",
    ),
    "webhook_secret": (
        "STRIPE_WEBHOOK_SECRET",
        "stripe_webhook_secret",
        "omochi_stripe_webhook_secret",
        "",
    ),
    "api_version": (
        "STRIPE_API_VERSION",
        "stripe_api_version",
        "omochi_stripe_api_version",
        "2023-10-16",
    ),
    "api_base": (
        "STRIPE_API_BASE",
        "stripe_api_base",
        "omochi_stripe_api_base",
        "https://api.stripe.com",
    ),
    "frontend_url": (
        "FRONTEND_URL",
        "frontend_url",
        "omochi_frontend_url",
        "http://localhost:3000",
    ),
    # Extra origins (comma-separated) accepted besides the FRONTEND_URL origin.
    "extra_origins": (
        "OMOCHI_ALLOWED_ORIGINS",
        "omochi_allowed_origins",
        "omochi_allowed_origins",
        "",
    ),
}

# Keys holding secrets: never logged, masked in representations.
SECRET_CONFIG_KEYS = ("secret_key", "webhook_secret")

# Configuration sources, by decreasing precedence.
SOURCE_ENVIRONMENT = "environment"
SOURCE_ODOO_CONF = "odoo.conf"
SOURCE_COMPANY = "company"
SOURCE_DEFAULT = "default"

# Prefixes of live-mode Stripe secret keys (standard and restricted keys).
LIVE_SECRET_KEY_PREFIXES = ("sk_live_", "rk_live_")

# Bus notification of a payment status change (the back-office forms reload).
BUS_STATUS_NOTIFICATION = "omochi_payments/status"

# Why a webhook delivery was refused before verification (Health counts them).
WEBHOOK_REFUSAL_BAD_SIGNATURE = "bad_signature"
WEBHOOK_REFUSAL_STALE_TIMESTAMP = "stale_timestamp"
WEBHOOK_REFUSAL_UNKNOWN_SECRET = "unknown_secret"
WEBHOOK_REFUSAL_NO_SECRET = "no_secret"
WEBHOOK_REFUSAL_REASONS = [
    (WEBHOOK_REFUSAL_BAD_SIGNATURE, "Missing or malformed signature"),
    (WEBHOOK_REFUSAL_STALE_TIMESTAMP, "Stale timestamp"),
    (WEBHOOK_REFUSAL_UNKNOWN_SECRET, "Signed with an unknown secret"),
    (WEBHOOK_REFUSAL_NO_SECRET, "No webhook secret configured"),
]

# Webhook events handled by the addon (DESIGN §4, §8); others are stored "ignored".
HANDLED_WEBHOOK_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
)

# Allowed status transitions (DESIGN §4): target status -> statuses it may come
# from. COMPLETED is reachable from EXPIRED/CANCELLED too: when Stripe reports a
# payment on a session we had given up on, the money was taken and must be
# recorded. Nothing leaves COMPLETED except a refund.
TRANSITIONS = {
    STATUS_PROCESSING: (STATUS_PENDING, STATUS_FAILED),
    STATUS_COMPLETED: (
        STATUS_PENDING,
        STATUS_PROCESSING,
        STATUS_FAILED,
        STATUS_EXPIRED,
        STATUS_CANCELLED,
    ),
    STATUS_FAILED: (STATUS_PENDING, STATUS_PROCESSING),
    STATUS_EXPIRED: (STATUS_PENDING, STATUS_FAILED),
    STATUS_CANCELLED: (STATUS_PENDING, STATUS_FAILED),
    STATUS_PARTIALLY_REFUNDED: (STATUS_COMPLETED, STATUS_PARTIALLY_REFUNDED),
    STATUS_REFUNDED: (STATUS_COMPLETED, STATUS_PARTIALLY_REFUNDED),
}

# Checkout Sessions live this long (Stripe accepts 30 minutes to 24 hours).
CHECKOUT_SESSION_LIFETIME_MINUTES = 60
# An open session is reused only if it stays open at least this long, so that
# the customer has time to pay on it.
CHECKOUT_SESSION_REUSE_MARGIN_MINUTES = 5
# A session creation retried after a failure keeps its parameters (and so its
# idempotency key) while its expires_at is still this far ahead; Stripe
# refuses an expires_at less than 30 minutes ahead.
CHECKOUT_SESSION_MIN_LIFETIME_MINUTES = 31

# Where the customer lands after Stripe Checkout (integration guide).
SUCCESS_PATH_QUERY = "session_id={CHECKOUT_SESSION_ID}&status=success"
CANCEL_PATH_QUERY = "status=cancelled"
FRONTEND_STATUS_PATH = "/payment/status"

# Stripe Dashboard, for links from the back-office (test mode has a /test prefix).
STRIPE_DASHBOARD_URL = "https://dashboard.stripe.com"
# The simulator's stand-in for the Dashboard (``/dashboard/<object id>``).
SIMULATOR_DASHBOARD_PATH = "/dashboard"

# Reconciliation cron: open payments older than this many minutes (default of
# the omochi_payments.reconcile_after_minutes parameter) are checked at Stripe.
RECONCILE_AFTER_MINUTES = 15
# A payment is refreshed from Stripe on request (check_status, the status page)
# at most once per this many seconds, however many requests ask.
REFRESH_MIN_INTERVAL_SECONDS = 5
# Body limits, enforced on the routes before any parsing (ir.http._pre_dispatch).
API_MAX_BODY_BYTES = 64 * 1024
WEBHOOK_MAX_BODY_BYTES = 256 * 1024
PORTAL_PAY_MAX_BODY_BYTES = 16 * 1024
BODY_TOO_LARGE_CODE = "body_too_large"
# Records handled per cron batch (each batch is committed).
CRON_BATCH_SIZE = 50
# Failed webhook events are retried after 2**attempts minutes, this many times.
EVENT_MAX_ATTEMPTS = 6
# Pending webhook events claimed per batch of the processing job (DESIGN §8).
EVENT_BATCH_SIZE = 100
# The cron records that apply pending webhook events. Odoo's cron runner runs
# one cron record in one worker at a time: each record is one more worker
# that may apply events in parallel (they share them through SKIP LOCKED).
EVENT_PROCESSING_CRONS = (
    "omochi_payments.ir_cron_omochi_process_events",
    "omochi_payments.ir_cron_omochi_process_events_2",
)
# The deliveries of this window share one wake-up of the processing crons: the
# first stores a trigger due at its end (and has the cron workers woken then);
# the next ones, finding that trigger still ahead, add none. Applying waits up
# to this long more; the acknowledgement saves the trigger rows and the NOTIFY.
EVENT_WAKE_WINDOW_SECONDS = 0.1
# A batch of the processing job that meets a concurrent update is claimed
# again this many times in all.
EVENT_BATCH_TRIES = 5
# Event types whose successive events about one object report different
# changes, told apart by this field of the object (DESIGN §8: the same
# (data.object.id, type) otherwise applies once).
EVENT_CHANGE_FIELDS = {
    "charge.refunded": "amount_refunded",
    "payment_intent.payment_failed": "latest_charge",
}
# Health warns when the oldest pending event waits longer than this (seconds).
EVENT_BACKLOG_WARNING_SECONDS = 60
# Which configuration verified a webhook event's signature (DESIGN §5).
SIGNATURE_SCOPE_PROCESS = "process"
SIGNATURE_SCOPE_COMPANY = "company"
SIGNATURE_SCOPE_SELECTION = [
    (SIGNATURE_SCOPE_PROCESS, "Server configuration (every company)"),
    (SIGNATURE_SCOPE_COMPANY, "Company settings"),
]

# What a Stripe Checkout Session id looks like (``cs_test_...``, ``cs_live_...``).
CHECKOUT_SESSION_ID_PATTERN = re.compile(r"^cs_[A-Za-z0-9_]{1,250}$")
