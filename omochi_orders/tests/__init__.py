from . import test_omochi_order
from . import test_omochi_order_access
from . import test_portal
