"""``python -m stripe_sim``: run the Stripe simulator until Ctrl-C."""

import argparse
import logging
import os
import sys

from .app import DEFAULT_API_KEY
from .server import SimulatorServer
from .state import DEFAULT_API_VERSION

log = logging.getLogger("stripe_sim")


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="python -m stripe_sim",
        description="Stateful simulator of the Stripe API subset used by Omochi "
        "Payments (Checkout Sessions, PaymentIntents, refunds, webhook endpoints). "
        "Point the stripe SDK's API base at the printed URL.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument(
        "--port", type=int, default=12111, help="0 picks a free port (default: 12111)"
    )
    parser.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="SK",
        help="accepted secret key (repeatable); default: $STRIPE_SECRET_KEY or "
        f"{DEFAULT_API_KEY}",
    )
    parser.add_argument(
        "--api-version",
        default=DEFAULT_API_VERSION,
        help="version used when a request sends no Stripe-Version "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--public-url",
        help="base URL browsers use to reach the simulator (hosted checkout "
        "links); default: derived from each request",
    )
    parser.add_argument(
        "--webhook-url", help="register a webhook endpoint for all events"
    )
    parser.add_argument(
        "--webhook-secret",
        help="its signing secret (whsec_...); default: $STRIPE_WEBHOOK_SECRET or "
        "a generated one",
    )
    parser.add_argument(
        "--webhook-retry-delay",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="first retry delay of a failed delivery, doubled on each retry "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-max-delay",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="cap of the retry delay (default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-max-attempts",
        type=int,
        default=8,
        metavar="N",
        help="attempts per event and endpoint (default: %(default)s)",
    )
    parser.add_argument(
        "--webhook-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="timeout of one delivery attempt (default: %(default)s)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the server and serve until interrupted."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    if args.quiet:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    api_keys = args.api_keys or [os.environ.get("STRIPE_SECRET_KEY") or DEFAULT_API_KEY]
    webhook_secret = args.webhook_secret or os.environ.get("STRIPE_WEBHOOK_SECRET")
    try:
        server = SimulatorServer(
            args.host,
            args.port,
            api_keys=api_keys,
            api_version=args.api_version,
            public_url=args.public_url,
            webhook_url=args.webhook_url,
            webhook_secret=webhook_secret,
            webhook_retry_delay=args.webhook_retry_delay,
            webhook_max_delay=args.webhook_max_delay,
            webhook_max_attempts=args.webhook_max_attempts,
            webhook_timeout=args.webhook_timeout,
        )
    except (TypeError, ValueError) as exc:
        build_parser().error(str(exc))
    log.info("Stripe simulator listening on %s", server.url)
    log.info(
        "accepting %d secret key(s); API version %s", len(api_keys), args.api_version
    )
    if server.public_url != server.url:
        log.info("hosted checkout pages under %s/c/pay/", server.public_url)
    if args.webhook_url:
        log.info("webhook target: %s (all events)", args.webhook_url)
        if not webhook_secret:  # generated: the receiver needs to know it
            log.info("webhook signing secret: %s", server.webhook_secret)
        config = server.webhooks.config
        log.info(
            "webhook retries: %d attempts, %gs doubling up to %gs",
            config.max_attempts,
            config.retry_delay,
            config.max_delay,
        )
    else:
        log.info("no webhook target (create one with POST /v1/webhook_endpoints)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("stopping")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
