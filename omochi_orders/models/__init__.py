from . import omochi_order
from . import omochi_order_line
