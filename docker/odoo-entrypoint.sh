#!/bin/sh
# Entry point of the odoo container: the official image's, after one choice.
# Without a Stripe secret key in .env the demo talks to the bundled Stripe
# simulator (which signs its webhooks with the demo secret below); with real
# test keys in .env, Odoo talks to Stripe itself, with no other change.
if [ -z "$STRIPE_SECRET_KEY" ]; then
  export STRIPE_SECRET_KEY=sk_test_omochi_simulator
  export STRIPE_API_BASE="${STRIPE_API_BASE:-http://stripe-sim:12111}"
  export STRIPE_WEBHOOK_SECRET="${STRIPE_WEBHOOK_SECRET:-whsec_omochi_docker_demo}"
fi
exec /entrypoint.sh "$@"
