#!/bin/sh
# Entry point of the odoo container: the official image's, after two steps.
#
# 1. The master password: ODOO_ADMIN_PASSWD (from .env, no default) is added
#    to a copy of the mounted odoo.conf; without it the container stops.
# 2. Stripe: with OMOCHI_STRIPE_SIMULATOR=1 Odoo talks to the bundled Stripe
#    simulator and accepts the webhooks it signs with its fixed demo secret.
#    Otherwise nothing is defaulted: the keys and the webhook secret come from
#    .env or from Settings, and the simulator's public secret is never valid.
set -eu
conf_template=${OMOCHI_CONF_TEMPLATE:-/etc/odoo/odoo.conf}
next_entrypoint=${OMOCHI_NEXT_ENTRYPOINT:-/entrypoint.sh}

if [ -z "${ODOO_ADMIN_PASSWD:-}" ]; then
  echo "ODOO_ADMIN_PASSWD is not set: put the database manager's master password in .env" >&2
  exit 1
fi
case "${OMOCHI_STRIPE_SIMULATOR:-0}" in
  1|true|yes)
    if [ -n "${STRIPE_SECRET_KEY:-}" ]; then
      echo "OMOCHI_STRIPE_SIMULATOR=1 and STRIPE_SECRET_KEY are both set: choose one" >&2
      exit 1
    fi
    export STRIPE_SECRET_KEY=sk_test_omochi_simulator
    export STRIPE_API_BASE=http://stripe-sim:12111
    export STRIPE_WEBHOOK_SECRET=whsec_omochi_docker_demo
    ;;
  0|false|no|"") ;;
  *)
    echo "OMOCHI_STRIPE_SIMULATOR must be 1 or 0" >&2
    exit 1
    ;;
esac

conf=$(mktemp /tmp/odoo.XXXXXX.conf)
{ cat "$conf_template"; printf 'admin_passwd = %s\n' "$ODOO_ADMIN_PASSWD"; } > "$conf"
chmod 600 "$conf"
export ODOO_RC="$conf"
exec "$next_entrypoint" "$@"
