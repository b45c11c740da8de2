from . import omochi_payment_refund_wizard
