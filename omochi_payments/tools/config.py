"""The single resolver of the Stripe configuration (DESIGN §5).

Every piece of code needing a Stripe key, the webhook secrets, the API version or
base, the frontend URL or the allowed origins calls :func:`get_stripe_config`
(or its model shortcut ``res.company._omochi_stripe_config()``) and reads the
returned :class:`StripeConfig`. For each key, the first non-empty value wins:

1. the process environment (``STRIPE_SECRET_KEY``, ...);
2. the ``[options]`` section of odoo.conf (same names, lower-case);
3. the company's settings (Settings > Omochi Payments);
4. the default of :data:`odoo.addons.omochi_payments.const.CONFIG_KEYS`.
"""

import dataclasses
import logging
import os
import re
from urllib.parse import urlsplit

from odoo.tools import config as odoo_config

from .. import const

_logger = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SECRET_PREFIX_RE = re.compile(r"^([A-Za-z]+_(?:test_|live_)?)")


def mask_secret(value):
    """Return a masked form of a secret, safe to log or display.

    Only the Stripe type prefix is kept (``sk_test_``, ``rk_live_``, ``whsec_``).

    :param str value: The secret, possibly empty.
    :return: ``""`` for an empty value, otherwise e.g. ``"sk_test_***"``.
    :rtype: str
    """
    if not value:
        return ""
    match = _SECRET_PREFIX_RE.match(value)
    return f"{match.group(1) if match else ''}***"


def url_origin(url):
    """Return the normalised origin (``scheme://host[:port]``) of an absolute URL.

    The scheme and host are lower-cased and default ports dropped, so that
    ``HTTPS://Shop.Example.com:443/pay`` gives ``https://shop.example.com``.

    :param str url: An absolute http(s) URL or origin.
    :return: The origin, or ``None`` when the URL is not an absolute http(s) URL.
    :rtype: str | None
    """
    if not url or not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host or parts.username or parts.password:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port and port != _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def _split_list(value):
    """Split a comma-separated setting into a tuple of unique, stripped items.

    :param str value: e.g. ``"whsec_a, whsec_b,,"``.
    :return: e.g. ``("whsec_a", "whsec_b")``, in the original order.
    :rtype: tuple
    """
    items = (item.strip() for item in (value or "").split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def _clean(value):
    """Return a configuration value as a stripped string, ``""`` when unset.

    odoo.conf turns ``True``/``False`` into booleans and may hold ``None``; those
    count as unset, like empty strings, so that the next level applies.
    """
    if value is None or isinstance(value, bool):
        return ""
    return str(value).strip()


@dataclasses.dataclass(frozen=True)
class StripeConfig:
    """The effective Stripe configuration of one company (immutable).

    Raw values are the resolved keys of :data:`const.CONFIG_KEYS`; the properties
    are derived from them. ``sources`` tells, for each key, where its value came
    from (one of the ``const.SOURCE_*`` values). The representation masks secrets.
    """

    publishable_key: str = ""
    secret_key: str = ""
    webhook_secret: str = ""
    api_version: str = ""
    api_base: str = ""
    frontend_url: str = ""
    extra_origins: str = ""
    company_id: int | None = None
    sources: tuple = ()

    def __repr__(self):
        values = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name in const.SECRET_CONFIG_KEYS:
                value = ",".join(mask_secret(s) for s in _split_list(value))
            values.append(f"{field.name}={value!r}")
        return f"StripeConfig({', '.join(values)})"

    __str__ = __repr__

    @property
    def webhook_secrets(self):
        """The active webhook signing secrets (several during a rotation).

        :rtype: tuple[str]
        """
        return _split_list(self.webhook_secret)

    @property
    def frontend_origin(self):
        """The normalised origin of ``frontend_url`` (``None`` if it is invalid).

        :rtype: str | None
        """
        return url_origin(self.frontend_url)

    @property
    def allowed_origins(self):
        """The origins allowed for ``return_url`` and CORS: the frontend origin
        followed by the extra origins, normalised, without duplicates.

        :rtype: tuple[str]
        """
        candidates = (self.frontend_url, *_split_list(self.extra_origins))
        origins = (url_origin(candidate) for candidate in candidates)
        return tuple(dict.fromkeys(origin for origin in origins if origin))

    @property
    def is_real_stripe(self):
        """Whether the API base is Stripe's own (not the simulator or a fake).

        :rtype: bool
        """
        return self.api_base.rstrip("/") == const.CONFIG_KEYS["api_base"][3]

    @property
    def is_live_mode(self):
        """Whether the secret key is a live-mode key (``sk_live_``/``rk_live_``).

        :rtype: bool
        """
        return self.secret_key.startswith(const.LIVE_SECRET_KEY_PREFIXES)

    def is_origin_allowed(self, url):
        """Return whether the origin of ``url`` is one of ``allowed_origins``.

        :param str url: An absolute URL or an origin (e.g. a CORS ``Origin``).
        :rtype: bool
        """
        origin = url_origin(url)
        return bool(origin) and origin in self.allowed_origins

    def source(self, key):
        """Return where the value of ``key`` came from.

        :param str key: A key of :data:`const.CONFIG_KEYS`, e.g. ``"secret_key"``.
        :return: One of the ``const.SOURCE_*`` values.
        :rtype: str
        """
        return dict(self.sources)[key]

    def is_overridden(self, key):
        """Return whether ``key`` is set outside of Odoo's settings (environment
        or odoo.conf), so that the company setting is not used.

        :rtype: bool
        """
        return self.source(key) in (const.SOURCE_ENVIRONMENT, const.SOURCE_ODOO_CONF)


def _resolve_value(key, company):
    """Return the effective value of one configuration key and its source.

    :param str key: A key of :data:`const.CONFIG_KEYS`.
    :param company: A ``res.company`` record (sudoed) or an empty recordset.
    :return: A ``(value, source)`` pair.
    :rtype: tuple[str, str]
    """
    env_name, option_name, field_name, default = const.CONFIG_KEYS[key]
    value = _clean(os.environ.get(env_name))
    if value:
        return value, const.SOURCE_ENVIRONMENT
    value = _clean(odoo_config.get(option_name))
    if value:
        return value, const.SOURCE_ODOO_CONF
    if company and field_name in company._fields:
        value = _clean(company[field_name])
        if value:
            return value, const.SOURCE_COMPANY
    return default, const.SOURCE_DEFAULT


def get_stripe_config(company=None):
    """Resolve the Stripe configuration of a company (DESIGN §5).

    The environment and odoo.conf are read at each call, so a changed setting
    applies without restart. The company's fields are read as superuser: the
    caller's access rights never hide a setting.

    :param company: A ``res.company`` record; ``None`` or an empty recordset
        skips the company level.
    :return: The effective configuration.
    :rtype: StripeConfig
    """
    company = company.sudo().ensure_one() if company else None
    values, sources = {}, []
    for key in const.CONFIG_KEYS:
        values[key], source = _resolve_value(key, company)
        sources.append((key, source))
    values["frontend_url"] = values["frontend_url"].rstrip("/")
    values["api_base"] = values["api_base"].rstrip("/")
    return StripeConfig(
        **values,
        company_id=company.id if company else None,
        sources=tuple(sources),
    )
