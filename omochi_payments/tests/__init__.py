from . import test_config
from . import test_transaction
from . import test_order_payment_state
from . import test_access
