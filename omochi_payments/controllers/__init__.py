from . import api
from . import status_page
from . import webhook
from . import portal
from . import openapi
