from odoo import api, fields, models

from .. import const


class OmochiPaymentRefreshClaim(models.Model):
    """Who may ask Stripe about a payment now: one row per payment, with the
    time of the last claim (DESIGN §7, §8: "refreshed from Stripe").

    However many requests ask for a payment's status (an anonymous status
    page in a loop, a frontend polling ``check_status``), at most one Stripe
    call per payment is made every ``const.REFRESH_MIN_INTERVAL_SECONDS``:
    the asker that wins the claim calls, the others answer from the database.
    The claim is taken and committed in a cursor of its own, so that
    concurrent askers see it at once and never wait on each other.
    """

    _name = "omochi.payment.refresh.claim"
    _description = "Omochi Payment Refresh Claim"
    _log_access = False

    transaction_id = fields.Many2one(
        "omochi.payment.transaction", required=True, ondelete="cascade"
    )
    claimed_at = fields.Datetime(required=True)

    _sql_constraints = (
        (
            "transaction_uniq",
            "UNIQUE(transaction_id)",
            "One refresh claim per payment.",
        ),
    )

    @api.model
    def _omochi_claim(self, transaction_id):
        """Claim the right to ask Stripe about a payment now.

        :param int transaction_id: The ``omochi.payment.transaction`` id.
        :return: Whether the caller won the claim (no other asker did within
            the interval).
        :rtype: bool
        """
        query = """
            INSERT INTO omochi_payment_refresh_claim (transaction_id, claimed_at)
            VALUES (%(id)s, now() AT TIME ZONE 'UTC')
            ON CONFLICT (transaction_id) DO UPDATE
               SET claimed_at = EXCLUDED.claimed_at
             WHERE omochi_payment_refresh_claim.claimed_at
                   < EXCLUDED.claimed_at - interval '1 second' * %(interval)s
            RETURNING transaction_id
        """
        params = {"id": transaction_id, "interval": const.REFRESH_MIN_INTERVAL_SECONDS}
        with self.env.registry.cursor() as cr:
            cr.execute(query, params)
            return bool(cr.rowcount)
