"""Unit tests of the ``Stripe-Signature`` verification (DESIGN §8).

Pure functions, no database: the header format, several ``v1`` entries,
secret rotation, the 300 s tolerance on both sides of now, and agreement
with the official ``stripe`` SDK on what a valid signature is.
"""

import hashlib
import hmac
import json

import stripe

from odoo.tests import BaseCase, tagged

from ..tools.stripe_signature import (
    MAX_HEADER_LENGTH,
    TOLERANCE_SECONDS,
    SignatureVerificationError,
    compute_signature,
    signature_header,
    verify_signature,
)

NOW = 1_767_225_600  # 2026-01-01T00:00:00Z
SECRET = "whsec_omochi_current_0123456789abcdef"
OLD_SECRET = "whsec_omochi_previous_fedcba9876543210"
RETIRED_SECRET = "whsec_omochi_retired_00000000000000"
NON_ASCII = "\u00e9" * 64
PAYLOAD = json.dumps(
    {
        "id": "evt_1OmochiSignature0000000",
        "object": "event",
        "api_version": "2023-10-16",
        "created": NOW,
        "data": {"object": {"id": "cs_test_a1Omochi", "object": "checkout.session"}},
        "livemode": False,
        "type": "checkout.session.completed",
    },
    indent=2,
).encode()


def hmac_hex(payload, timestamp, secret):
    """The HMAC-SHA256 of Stripe's documentation, computed independently."""
    message = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@tagged("post_install", "-at_install")
class TestStripeSignature(BaseCase):
    def verify(self, header, secrets=(SECRET,), payload=PAYLOAD, now=NOW):
        return verify_signature(payload, header, secrets, now=now)

    def assertRefused(self, header, secrets=(SECRET,), payload=PAYLOAD, now=NOW):
        with self.assertRaises(SignatureVerificationError) as caught:
            self.verify(header, secrets, payload, now)
        self.assertTrue(str(caught.exception))
        return caught.exception

    def test_compute_signature_is_stripe_hmac(self):
        cases = [
            (PAYLOAD, NOW, SECRET),
            (b"", 0, SECRET),
            ('{"k": "caf\u00e9"}'.encode(), NOW, OLD_SECRET),
        ]
        for payload, timestamp, secret in cases:
            with self.subTest(payload=payload[:20], timestamp=timestamp):
                self.assertEqual(
                    compute_signature(payload, timestamp, secret),
                    hmac_hex(payload, timestamp, secret),
                )
        self.assertEqual(
            signature_header(PAYLOAD, SECRET, NOW),
            f"t={NOW},v1={hmac_hex(PAYLOAD, NOW, SECRET)}",
        )

    def test_valid_signature(self):
        self.assertEqual(self.verify(signature_header(PAYLOAD, SECRET, NOW)), NOW)
        # Without ``now``: the current time, and a header signed right now.
        self.assertTrue(
            verify_signature(PAYLOAD, signature_header(PAYLOAD, SECRET), [SECRET])
        )

    def test_agrees_with_stripe_sdk(self):
        """What we sign, the SDK accepts; what the SDK signs, we accept."""
        header = signature_header(PAYLOAD, SECRET)
        self.assertTrue(
            stripe.WebhookSignature.verify_header(
                PAYLOAD.decode(), header, SECRET, TOLERANCE_SECONDS
            )
        )
        timestamp = NOW
        sdk_signature = stripe.WebhookSignature._compute_signature(
            f"{timestamp}.{PAYLOAD.decode()}", SECRET
        )
        self.assertEqual(
            self.verify(f"t={timestamp},v1={sdk_signature}"),
            timestamp,
        )

    def test_several_v1_entries(self):
        good = compute_signature(PAYLOAD, NOW, SECRET)
        other = compute_signature(PAYLOAD, NOW, RETIRED_SECRET)
        v0 = hmac.new(SECRET.encode(), PAYLOAD, hashlib.sha1).hexdigest()
        headers = {
            "match first": f"t={NOW},v1={good},v1={other}",
            "match last": f"t={NOW},v1={other},v1={'0' * 64},v1={good}",
            "match middle": f"t={NOW},v1={other},v1={good},v1={'f' * 64}",
            "t last": f"v1={other},v1={good},t={NOW}",
            "with v0 and spaces": f"t={NOW}, v0={v0}, v1={good}",
            "unknown scheme ignored": f"t={NOW},v2=abc,v1={good}",
        }
        for name, header in headers.items():
            with self.subTest(name):
                self.assertEqual(self.verify(header), NOW)
        with self.subTest("none matches"):
            self.assertRefused(f"t={NOW},v1={other},v1={'0' * 64}")
        with self.subTest("v0 alone is not enough"):
            self.assertRefused(f"t={NOW},v0={good}")

    def test_secret_rotation(self):
        rotation = (OLD_SECRET, SECRET)
        for name, secret in (("old", OLD_SECRET), ("new", SECRET)):
            with self.subTest(signed_with=name):
                header = signature_header(PAYLOAD, secret, NOW)
                self.assertEqual(self.verify(header, rotation), NOW)
        with self.subTest("secret no longer configured"):
            header = signature_header(PAYLOAD, RETIRED_SECRET, NOW)
            self.assertRefused(header, rotation)
        with self.subTest("signed with both during a rotation"):
            old = compute_signature(PAYLOAD, NOW, OLD_SECRET)
            new = compute_signature(PAYLOAD, NOW, SECRET)
            self.assertEqual(self.verify(f"t={NOW},v1={old},v1={new}", [SECRET]), NOW)

    def test_no_secret_configured(self):
        header = signature_header(PAYLOAD, SECRET, NOW)
        for secrets in ((), [], None):
            with self.subTest(secrets=secrets):
                error = self.assertRefused(header, secrets)
                self.assertIn("no webhook signing secret", str(error))
        with self.subTest("a signature with an empty secret is not accepted"):
            self.assertRefused(signature_header(PAYLOAD, "", NOW), ())

    def test_missing_or_garbled_header(self):
        good = compute_signature(PAYLOAD, NOW, SECRET)
        headers = {
            "missing": None,
            "empty": "",
            "blank": "   ",
            "no t": f"v1={good}",
            "no v1": f"t={NOW}",
            "no v1 value": f"t={NOW},v1",
            "non-numeric t": f"t=abc,v1={good}",
            "float t": f"t={NOW}.5,v1={good}",
            "negative t": f"t=-{NOW},v1={good}",
            "empty t": f"t=,v1={good}",
            "duplicated t": f"t={NOW},t={NOW},v1={good}",
            "duplicated t, other value": f"t={NOW},v1={good},t={NOW + 1}",
            "no separator": "garbage",
            "only commas": ",,,",
            "json": json.dumps({"t": NOW, "v1": good}),
            "unicode digits": f"t=\u0661\u0662\u0663,v1={good}",
            "non-ascii signature": f"t={NOW},v1={NON_ASCII}",
            "huge": f"t={NOW},v1={good}," + ",".join(["v1=" + "0" * 64] * 100),
            "huge one entry": f"t={NOW},v1={good + 'a' * MAX_HEADER_LENGTH}",
        }
        for name, header in headers.items():
            with self.subTest(name):
                self.assertRefused(header)

    def test_wrong_secret(self):
        for secret in (RETIRED_SECRET, SECRET.upper(), SECRET + " ", SECRET[:-1]):
            with self.subTest(secret=secret):
                self.assertRefused(signature_header(PAYLOAD, secret, NOW))

    def test_tampered_body(self):
        header = signature_header(PAYLOAD, SECRET, NOW)
        one_byte = bytearray(PAYLOAD)
        index = PAYLOAD.index(b"cs_test_a1Omochi") + 8
        one_byte[index] ^= 0x01
        bodies = {
            "one byte changed": bytes(one_byte),
            "whitespace added": PAYLOAD.replace(b"{", b"{ ", 1),
            "trailing newline": PAYLOAD + b"\n",
            "re-serialised": json.dumps(json.loads(PAYLOAD)).encode(),
            "truncated": PAYLOAD[:-1],
            "empty": b"",
        }
        for name, body in bodies.items():
            with self.subTest(name):
                self.assertNotEqual(body, PAYLOAD)
                self.assertRefused(header, payload=body)
        with self.subTest("timestamp changed in the header"):
            signature = compute_signature(PAYLOAD, NOW, SECRET)
            self.assertRefused(f"t={NOW + 1},v1={signature}")

    def test_timestamp_tolerance(self):
        self.assertEqual(TOLERANCE_SECONDS, 300)
        for offset, accepted in (
            (-301, False),
            (-300, True),
            (-299, True),
            (0, True),
            (299, True),
            (300, True),
            (301, False),
            (-86_400, False),
            (86_400, False),
        ):
            timestamp = NOW + offset
            header = signature_header(PAYLOAD, SECRET, timestamp)
            with self.subTest(offset=offset):
                if accepted:
                    self.assertEqual(self.verify(header), timestamp)
                else:
                    error = self.assertRefused(header)
                    self.assertIn("tolerance", str(error))
        with self.subTest("custom tolerance"):
            header = signature_header(PAYLOAD, SECRET, NOW - 10)
            with self.assertRaises(SignatureVerificationError):
                verify_signature(PAYLOAD, header, [SECRET], tolerance=5, now=NOW)
