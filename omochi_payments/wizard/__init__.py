from . import omochi_payment_refund_wizard
from . import omochi_payment_link_wizard
