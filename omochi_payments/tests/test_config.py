import logging
import os
from unittest.mock import patch

from odoo.tests import tagged
from odoo.tools import config as odoo_config

from .. import const
from ..tools.config import StripeConfig, get_stripe_config, mask_secret, url_origin
from ..tools.stripe_gateway import StripeGateway
from .common import OmochiPaymentsCase


@tagged("post_install", "-at_install")
class TestStripeConfig(OmochiPaymentsCase):
    """The precedence environment > odoo.conf > company > default (DESIGN §5)."""

    def test_defaults(self):
        config = get_stripe_config(self.company)
        self.assertIsInstance(config, StripeConfig)
        self.assertEqual(config.api_version, "2023-10-16")
        self.assertEqual(config.frontend_url, "http://localhost:3000")
        self.assertEqual(config.api_base, "https://api.stripe.com")
        self.assertEqual(config.secret_key, "")
        self.assertEqual(config.webhook_secrets, ())
        self.assertEqual(config.allowed_origins, ("http://localhost:3000",))
        self.assertFalse(config.is_live_mode)
        self.assertEqual(config.company_id, self.company.id)
        for key in const.CONFIG_KEYS:
            self.assertEqual(config.source(key), const.SOURCE_DEFAULT)
            self.assertFalse(config.is_overridden(key))

    def test_without_company(self):
        config = get_stripe_config()
        self.assertIsNone(config.company_id)
        self.assertEqual(config.frontend_url, "http://localhost:3000")
        with patch.dict(os.environ, {"STRIPE_SECRET_KEY": "sk_test_env"}):
            self.assertEqual(get_stripe_config(None).secret_key, "sk_test_env")

    def test_precedence_per_level(self):
        self.company.omochi_stripe_secret_key = "sk_test_company"
        config = get_stripe_config(self.company)
        self.assertEqual(config.secret_key, "sk_test_company")
        self.assertEqual(config.source("secret_key"), const.SOURCE_COMPANY)
        self.assertFalse(config.is_overridden("secret_key"))

        with patch.dict(odoo_config.options, {"stripe_secret_key": "sk_test_conf"}):
            config = get_stripe_config(self.company)
            self.assertEqual(config.secret_key, "sk_test_conf")
            self.assertEqual(config.source("secret_key"), const.SOURCE_ODOO_CONF)
            self.assertTrue(config.is_overridden("secret_key"))

            with patch.dict(os.environ, {"STRIPE_SECRET_KEY": "sk_test_env"}):
                config = get_stripe_config(self.company)
                self.assertEqual(config.secret_key, "sk_test_env")
                self.assertEqual(config.source("secret_key"), const.SOURCE_ENVIRONMENT)

        # Back to the company value once the overrides are gone.
        self.assertEqual(get_stripe_config(self.company).secret_key, "sk_test_company")

    def test_precedence_every_key(self):
        for key, (env_name, option, field, default) in const.CONFIG_KEYS.items():
            with self.subTest(key=key):
                self.assertEqual(getattr(get_stripe_config(self.company), key), default)
                self.company[field] = f"http://company.example/{key}"
                config = get_stripe_config(self.company)
                self.assertEqual(getattr(config, key), f"http://company.example/{key}")
                with patch.dict(odoo_config.options, {option: f"http://conf/{key}"}):
                    config = get_stripe_config(self.company)
                    self.assertEqual(getattr(config, key), f"http://conf/{key}")
                    with patch.dict(os.environ, {env_name: f"http://env/{key}"}):
                        config = get_stripe_config(self.company)
                        self.assertEqual(getattr(config, key), f"http://env/{key}")

    def test_empty_values_fall_through(self):
        self.company.omochi_frontend_url = "https://shop.example.com"
        with (
            patch.dict(os.environ, {"FRONTEND_URL": "  "}),
            patch.dict(odoo_config.options, {"frontend_url": False}),
        ):
            config = get_stripe_config(self.company)
        self.assertEqual(config.frontend_url, "https://shop.example.com")
        self.assertEqual(config.source("frontend_url"), const.SOURCE_COMPANY)

    def test_company_level_is_per_company(self):
        self.company.omochi_stripe_secret_key = "sk_test_main"
        self.other_company.omochi_stripe_secret_key = "sk_test_other"
        self.assertEqual(get_stripe_config(self.company).secret_key, "sk_test_main")
        self.assertEqual(
            self.other_company._omochi_stripe_config().secret_key, "sk_test_other"
        )

    def test_company_read_as_superuser(self):
        """Users without access to the secret fields still get the configuration."""
        self.company.omochi_stripe_secret_key = "sk_test_company"
        company_as_user = self.company.with_user(self.user)
        self.assertEqual(
            get_stripe_config(company_as_user).secret_key, "sk_test_company"
        )

    def test_webhook_secret_list(self):
        self.company.omochi_stripe_webhook_secret = " whsec_new , ,whsec_old,whsec_new,"
        config = get_stripe_config(self.company)
        self.assertEqual(config.webhook_secrets, ("whsec_new", "whsec_old"))
        with patch.dict(os.environ, {"STRIPE_WEBHOOK_SECRET": "whsec_env"}):
            self.assertEqual(
                get_stripe_config(self.company).webhook_secrets, ("whsec_env",)
            )

    def test_allowed_origins(self):
        self.company.omochi_frontend_url = "HTTPS://Shop.Example.com:443/app/"
        self.company.omochi_allowed_origins = (
            "http://localhost:5173/, https://shop.example.com, not-an-url, "
            "ftp://files.example.com, https://admin.example.com:8443/x"
        )
        config = get_stripe_config(self.company)
        self.assertEqual(config.frontend_url, "HTTPS://Shop.Example.com:443/app")
        self.assertEqual(config.frontend_origin, "https://shop.example.com")
        self.assertEqual(
            config.allowed_origins,
            (
                "https://shop.example.com",
                "http://localhost:5173",
                "https://admin.example.com:8443",
            ),
        )
        self.assertTrue(config.is_origin_allowed("https://shop.example.com/pay/done"))
        self.assertTrue(config.is_origin_allowed("http://LOCALHOST:5173"))
        self.assertFalse(config.is_origin_allowed("https://shop.example.com.evil.com/"))
        self.assertFalse(config.is_origin_allowed("https://admin.example.com/"))
        self.assertFalse(config.is_origin_allowed("//shop.example.com/x"))
        self.assertFalse(config.is_origin_allowed(""))

    def test_url_origin(self):
        self.assertEqual(
            url_origin("http://localhost:3000/a?b#c"), "http://localhost:3000"
        )
        self.assertEqual(url_origin("https://EXAMPLE.com:443"), "https://example.com")
        self.assertEqual(url_origin("http://example.com:80/"), "http://example.com")
        self.assertEqual(url_origin("http://[::1]:8069/x"), "http://[::1]:8069")
        self.assertIsNone(url_origin("javascript:alert(1)"))
        self.assertIsNone(url_origin("https://user:pw@example.com/"))
        self.assertIsNone(url_origin("https://example.com:99999/"))
        self.assertIsNone(url_origin("/relative/path"))
        self.assertIsNone(url_origin(None))

    def test_live_mode(self):
        for key, live in (
            ("sk_live_123", True),
            ("rk_live_123", True),
            ("sk_test_123", False),
            ("rk_test_123", False),
        ):
            with (
                self.subTest(key=key),
                patch.dict(os.environ, {"STRIPE_SECRET_KEY": key}),
            ):
                self.assertEqual(get_stripe_config(self.company).is_live_mode, live)

    def test_repr_masks_secrets(self):
        with patch.dict(
            os.environ,
            {
                "STRIPE_SECRET_KEY": "sk_live_SUPERSECRET",
                "STRIPE_WEBHOOK_SECRET": "whsec_HIDDEN1,whsec_HIDDEN2",
                "STRIPE_PUBLISHABLE_KEY": "pk_live_public",
            },
        ):
            config = get_stripe_config(self.company)
        for text in (repr(config), str(config), f"{config}"):
            self.assertNotIn("SUPERSECRET", text)
            self.assertNotIn("HIDDEN", text)
            self.assertIn("sk_live_***", text)
            self.assertIn("whsec_***,whsec_***", text)
            self.assertIn("pk_live_public", text)
        self.assertEqual(mask_secret("sk_test_abc"), "sk_test_***")
        self.assertEqual(mask_secret("whsec_abc"), "whsec_***")
        self.assertEqual(mask_secret("opaque"), "***")
        self.assertEqual(mask_secret(""), "")

    def test_config_is_immutable(self):
        config = get_stripe_config(self.company)
        with self.assertRaises(AttributeError):
            config.secret_key = "sk_test_other"

    def test_settings_show_overrides(self):
        settings = self.env["res.config.settings"].create({})
        self.assertFalse(settings.omochi_config_overrides)
        self.assertEqual(settings.omochi_stripe_mode, "unset")
        with (
            patch.dict(os.environ, {"STRIPE_SECRET_KEY": "sk_test_env"}),
            patch.dict(odoo_config.options, {"frontend_url": "https://conf.example"}),
        ):
            settings = self.env["res.config.settings"].create({})
            self.assertIn(
                "STRIPE_SECRET_KEY (environment)", settings.omochi_config_overrides
            )
            self.assertIn("FRONTEND_URL (odoo.conf)", settings.omochi_config_overrides)
            self.assertNotIn("sk_test_env", settings.omochi_config_overrides)
            self.assertEqual(settings.omochi_stripe_mode, "test")

    def test_settings_write_company(self):
        settings = self.env["res.config.settings"].create(
            {
                "omochi_stripe_secret_key": "sk_test_settings",
                "omochi_stripe_webhook_secret": "whsec_a,whsec_b",
                "omochi_frontend_url": "https://front.example.com",
            }
        )
        settings.execute()
        self.assertEqual(self.company.omochi_stripe_secret_key, "sk_test_settings")
        config = self.company._omochi_stripe_config()
        self.assertEqual(config.webhook_secrets, ("whsec_a", "whsec_b"))
        self.assertEqual(config.allowed_origins, ("https://front.example.com",))


STRIPE_API_BASE = "https://api.stripe.com"


@tagged("post_install", "-at_install")
class TestStripeLogging(OmochiPaymentsCase):
    def test_stripe_library_logs_at_odoos_level(self):
        """Under ``--log-level=warn`` the SDK's INFO lines are not printed."""
        odoo_logger = logging.getLogger("odoo")
        stripe_logger = logging.getLogger("stripe")
        saved = (odoo_logger.level, stripe_logger.level)
        self.addCleanup(odoo_logger.setLevel, saved[0])
        self.addCleanup(stripe_logger.setLevel, saved[1])
        for level in (logging.WARNING, logging.INFO, logging.ERROR):
            with self.subTest(level=level):
                odoo_logger.setLevel(level)
                stripe_logger.setLevel(logging.NOTSET)
                StripeGateway(
                    StripeConfig(secret_key="sk_test_x", api_base=STRIPE_API_BASE)
                )
                self.assertEqual(stripe_logger.getEffectiveLevel(), level)
