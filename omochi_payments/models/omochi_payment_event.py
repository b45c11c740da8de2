from odoo import fields, models

from .. import const


class OmochiPaymentEvent(models.Model):
    """A verified Stripe webhook event, stored once (DESIGN §8).

    The unique ``stripe_event_id`` makes redeliveries no-ops. Events are kept
    when their transaction disappears (``ondelete="set null"``): they are the
    audit trail of what Stripe sent and still guard against replays. Events are
    written by the webhook controller and the cron as superuser; back-office
    managers may only read them.
    """

    _name = "omochi.payment.event"
    _description = "Omochi Payment Webhook Event"
    _order = "received_at desc, id desc"
    _rec_name = "stripe_event_id"

    _sql_constraints = (
        (
            "stripe_event_id_uniq",
            "UNIQUE(stripe_event_id)",
            "A Stripe event is stored only once.",
        ),
    )

    stripe_event_id = fields.Char(
        string="Stripe Event ID", required=True, readonly=True
    )
    type = fields.Char(string="Event Type", readonly=True, index=True)
    transaction_id = fields.Many2one(
        "omochi.payment.transaction",
        readonly=True,
        index=True,
        ondelete="set null",
    )
    company_id = fields.Many2one(
        related="transaction_id.company_id",
        store=True,
        index=True,
    )
    payload = fields.Text(
        readonly=True, help="The raw JSON body of the verified webhook request."
    )
    received_at = fields.Datetime(
        required=True,
        readonly=True,
        default=fields.Datetime.now,
    )
    state = fields.Selection(
        const.EVENT_STATE_SELECTION,
        required=True,
        readonly=True,
        index=True,
        default="pending",
    )
    error = fields.Text(readonly=True)
    attempts = fields.Integer(
        readonly=True, help="Number of processing attempts of the event."
    )
