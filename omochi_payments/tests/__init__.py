from . import test_config
from . import test_transaction
from . import test_order_payment_state
from . import test_access
from . import test_stripe_amounts
from . import test_checkout
from . import test_checkout_status
