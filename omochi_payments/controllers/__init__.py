from . import api
from . import status_page
