from . import omochi_payment_transaction
from . import omochi_payment_event
from . import omochi_order
from . import res_company
from . import res_config_settings
from . import omochi_payment_health
from . import omochi_payment_refresh_claim
from . import ir_http
