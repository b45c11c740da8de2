"""Hostile input against every route of the integration guide (DESIGN §7, §8)
and of the customer portal, on a live Odoo server.

Each case of the tables below sends one request that a careful server must
refuse: malformed or deeply nested JSON, wrong content types, huge and
chunked bodies, ids that are no UUIDs, SQL and script injection in every
string field, other customers' orders and payments (IDOR) with and without
credentials or access tokens, ``return_url`` open-redirect tricks, forged,
tampered and stale webhooks. For every case: the expected 4xx (with its §7
error code), never a 5xx, nothing written (payments, webhook events, chatter,
Stripe sessions), no secret and no unescaped script in the answer. At the
end, the live server's log must hold none of the configured secrets and no
ERROR line from this module's requests.
"""

import json
import os
import re
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests

from testkit.stripe_events import signature_header

ADMIN = ("admin", "admin")
PORTAL = ("omochi.portal@example.com", "portal")
WEBHOOK = "/api/payments/webhook/"
PAY = "/api/orders/{}/pay/"
CREATE = "/api/payments/create_checkout_session/"
STATUS = "/api/payments/check_status/"
SESSIONS = "/v1/checkout/sessions"
FRONTEND_URL = os.environ.get("FRONTEND_URL", "http://localhost:3000").rstrip("/")
XSS = "<script>omochi_xss()</script>"
INJECTIONS = [
    "' OR '1'='1",
    "1; DROP TABLE omochi_order;--",
    '" OR ""="',
    "') UNION SELECT login, password FROM res_users--",
    XSS,
    '"><img src=x onerror=omochi_xss()>',
    "{{7*7}}${7*7}<%= 7*7 %>",
    "../../../../etc/passwd",
    "%00\x00",
    "\u202egnp.exe",
]
API_MAX = 64 * 1024
WEBHOOK_MAX = 256 * 1024
LOG_ERROR = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ \d+ (ERROR|CRITICAL) ", re.MULTILINE)


def _csrf_token(html):
    match = re.search(r'name="csrf_token"\s+value="([^"]+)"', html) or re.search(
        r'csrf_token["\']?\s*:\s*"([^"]+)"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


# ------------------------------------------------------------------ context
@pytest.fixture(scope="module")
def admin(jsonrpc):
    return jsonrpc.login(*ADMIN)


def _web_session(odoo_url, database, login, password):
    session = requests.Session()
    answer = session.post(
        f"{odoo_url}/web/session/authenticate",
        json={
            "jsonrpc": "2.0",
            "method": "call",
            "params": {"db": database, "login": login, "password": password},
        },
        timeout=30,
    ).json()
    assert answer.get("result", {}).get("uid"), answer
    return session


def _call_kw(session, odoo_url, model, method, args, button=False):
    path = "/web/dataset/call_button" if button else "/web/dataset/call_kw"
    params = {"model": model, "method": method, "args": args, "kwargs": {}}
    answer = session.post(
        f"{odoo_url}{path}",
        json={"jsonrpc": "2.0", "method": "call", "params": params},
        timeout=30,
    ).json()
    assert "error" not in answer, answer
    return answer["result"]


def _portal_api_key(session, odoo_url):
    """An API key of the portal user, made like on /my/security."""
    model = "res.users.apikeys.description"
    wizard = _call_kw(session, odoo_url, model, "create", [{"name": "hostile"}])
    check = _call_kw(session, odoo_url, model, "make_key", [[wizard]], button=True)
    _call_kw(
        session,
        odoo_url,
        "res.users.identitycheck",
        "write",
        [[check["res_id"]], {"password": PORTAL[1]}],
    )
    shown = _call_kw(
        session,
        odoo_url,
        "res.users.identitycheck",
        "run_check",
        [[check["res_id"]]],
        button=True,
    )
    return shown["context"]["default_key"]


@pytest.fixture(scope="module")
def ctx(
    odoo_url,
    odoo_database,
    odoo_log,
    odoo_sql,
    admin,
    admin_api_key,
    simulator_url,
    wait_events_applied,
):
    """Everything the cases refer to: credentials, the portal customer's own
    order, another customer's orders and payment (the IDOR targets), a
    payable order of admin's (the open-redirect target)."""
    log_start = odoo_log.stat().st_size
    database = odoo_database[1]
    admin("ir.config_parameter", "set_param", ["portal.allow_api_keys", "True"])
    portal_session = _web_session(odoo_url, database, *PORTAL)
    portal_key = _portal_api_key(portal_session, odoo_url)
    [portal_user] = admin(
        "res.users",
        "search_read",
        [[("login", "=", PORTAL[0])]],
        {"fields": ["partner_id"]},
    )

    def order(partner, confirm=True):
        line = {"name": "Daifuku", "quantity": 2, "price_unit": 6.5}
        order_id = admin(
            "omochi.order",
            "create",
            [{"partner_id": partner, "line_ids": [(0, 0, line)]}],
        )
        if confirm:
            admin("omochi.order", "action_confirm", [[order_id]])
        admin(
            "omochi.order", "write", [[order_id], {"access_token": str(uuid.uuid4())}]
        )
        [values] = admin("omochi.order", "read", [[order_id], ["uuid", "access_token"]])
        return {"id": order_id, **values}

    tag = uuid.uuid4().hex[:8]
    victim_name = f"Hostile Victim {tag}"
    victim_email = f"victim.{tag}@example.com"
    victim_partner = admin(
        "res.partner", "create", [{"name": victim_name, "email": victim_email}]
    )
    victim = order(victim_partner)
    victim_paid = order(victim_partner)
    answer = requests.post(
        f"{odoo_url}{PAY.format(victim_paid['uuid'])}",
        headers={"Authorization": f"Bearer {admin_api_key}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    victim_payment = answer.json()
    own = order(portal_user["partner_id"][0])
    page = portal_session.get(f"{odoo_url}/my/omochi_orders/{own['id']}", timeout=30)
    assert page.status_code == 200, page.text
    public = requests.Session()
    public_page = public.get(
        f"{odoo_url}/my/omochi_orders/{own['id']}",
        params={"access_token": own["access_token"]},
        timeout=30,
    )
    assert public_page.status_code == 200, public_page.text
    base_url = admin("ir.config_parameter", "get_param", ["web.base.url"])
    context = {
        "url": odoo_url,
        "simulator_url": simulator_url,
        "admin": admin,
        "admin_key": admin_api_key,
        "portal_key": portal_key,
        "portal_session": portal_session,
        "portal_csrf": _csrf_token(page.text),
        "public_session": public,
        "public_csrf": _csrf_token(public_page.text),
        "victim": victim,
        "victim_name": victim_name,
        "victim_email": victim_email,
        "victim_payment": victim_payment,
        "own": own,
        "payable": order(admin("res.partner", "create", [{"name": f"Hostile {tag}"}])),
        "base_url": base_url.rstrip("/"),
        "log_start": log_start,
        "sql": odoo_sql,
        "wait_events_applied": wait_events_applied,
        "fresh_order": lambda: order(victim_partner),
    }
    yield context
    admin("ir.config_parameter", "set_param", ["portal.allow_api_keys", False])


@pytest.fixture(scope="module")
def secrets(admin_api_key, webhook_secret, stripe_webhook_endpoint, ctx):
    """Every configured secret and key: none may leak into an answer or the log."""
    return {
        "simulator secret key": os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"],
        "webhook secret": webhook_secret,
        "endpoint webhook secret": stripe_webhook_endpoint["secret"],
        "admin API key": admin_api_key,
        "portal API key": ctx["portal_key"],
    }


SNAPSHOT_SQL = """
    SELECT (SELECT count(*) FROM omochi_payment_transaction),
           (SELECT max(write_date) FROM omochi_payment_transaction),
           (SELECT count(*) FROM omochi_payment_event),
           (SELECT max(write_date) FROM omochi_payment_event),
           (SELECT count(*) FROM mail_message),
           (SELECT count(*) FROM omochi_order),
           (SELECT max(write_date) FROM omochi_order),
           (SELECT count(*) FROM res_users_apikeys)
"""
SNAPSHOT_KEYS = (
    "transactions",
    "last transaction write",
    "events",
    "last event write",
    "messages",
    "orders",
    "last order write",
    "API keys",
)


def snapshot(ctx):
    """What a refused request must not change: payments, webhook events,
    chatter, orders, API keys (read in the database), sessions at Stripe."""
    [row] = ctx["sql"](SNAPSHOT_SQL)
    creations = requests.get(
        f"{ctx['simulator_url']}/_sim/requests",
        params={"path": SESSIONS, "method": "POST"},
        timeout=10,
    ).json()["data"]
    return {
        **dict(zip(SNAPSHOT_KEYS, row, strict=True)),
        "stripe sessions": len([c for c in creations if c["path"] == SESSIONS]),
    }


# -------------------------------------------------------------------- cases
@dataclass
class Case:
    """One hostile request: ``build(ctx)`` gives ``(method, path, kwargs)``."""

    id: str
    who: str  # admin | portal_key | portal_session | public_session | anonymous
    build: Any
    expect: tuple = (400,)
    code: str | None = None
    absent: tuple = ()  # ctx keys whose values must not appear in the answer


def _json(body):
    return {
        "data": body if isinstance(body, bytes) else json.dumps(body),
        "headers": {"Content-Type": "application/json"},
    }


def _raw(data, content_type="application/json"):
    headers = {"Content-Type": content_type} if content_type else {}
    return {"data": data, "headers": headers}


def _chunked(size, content_type="application/json"):
    def body():
        chunk = b" " * 8192
        for _ in range(size // len(chunk) + 1):
            yield chunk

    return {"data": body(), "headers": {"Content-Type": content_type}}


def _nested(depth):
    return ('{"order_id": ' + "[" * depth + "]" * depth + "}").encode()


def api_cases():
    cases = []
    add = cases.append

    # ids that are no UUIDs, in the path and in the body
    bad_ids = [
        "not-a-uuid",
        "1",
        "0",
        "-1",
        "12345678-1234-1234-1234-12345678901",
        "12345678-1234-1234-1234-1234567890123",
        "g2345678-1234-1234-1234-123456789012",
        "a" * 3000,
        *INJECTIONS,
    ]
    for index, value in enumerate(bad_ids):
        path = PAY.format(quote(value, safe=""))
        add(
            Case(
                f"pay-path-id-{index}",
                "admin",
                lambda c, p=path: ("POST", p, {}),
                expect=(400, 404),
            )
        )
        add(
            Case(
                f"create-order-id-{index}",
                "admin",
                lambda c, v=value: ("POST", CREATE, _json({"order_id": v})),
                code="invalid_field",
            )
        )
    for index, value in enumerate([1, 1.5, True, None, [], {}, "", [PAY]]):
        add(
            Case(
                f"create-order-id-type-{index}",
                "admin",
                lambda c, v=value: ("POST", CREATE, _json({"order_id": v})),
                code="invalid_field",
            )
        )
    for index, value in enumerate([1, True, [], {"url": FRONTEND_URL}]):
        add(
            Case(
                f"pay-return-url-type-{index}",
                "admin",
                lambda c, v=value: (
                    "POST",
                    PAY.format(c["payable"]["uuid"]),
                    _json({"return_url": v}),
                ),
                code="invalid_field",
            )
        )
    add(
        Case(
            "create-missing-order-id",
            "admin",
            lambda c: ("POST", CREATE, _json({"return_url": FRONTEND_URL})),
            code="missing_field",
        )
    )
    add(
        Case(
            "pay-unknown-uuid",
            "admin",
            lambda c: ("POST", PAY.format(uuid.uuid4()), {}),
            expect=(404,),
            code="order_not_found",
        )
    )

    # malformed JSON
    malformed = [
        b"{",
        b"[]",
        b'"order_id"',
        b"null",
        b"1",
        b"{'order_id': 1}",
        b'{"order_id": "x",}',
        b"\xff\xfe{\x00",  # UTF-16, truncated
        b"\xef\xbb\xbf{",  # UTF-8 with a BOM, truncated
        b'{"order_id": "\xff"}',
        b"{" * 1000,
        b'{"order_id": ' + b"1" * 5000 + b"}",
        _nested(20000),
        b'{"a":' * 10000 + b"1" + b"}" * 10000,
    ]
    for index, body in enumerate(malformed):
        add(
            Case(
                f"create-malformed-json-{index}",
                "admin",
                lambda c, b=body: ("POST", CREATE, _raw(b)),
                code="invalid_json",
            )
        )
        add(
            Case(
                f"pay-malformed-json-{index}",
                "admin",
                lambda c, b=body: (
                    "POST",
                    PAY.format(c["payable"]["uuid"]),
                    _raw(b),
                ),
                code="invalid_json",
            )
        )

    # wrong content types
    content_types = [
        ("text/plain", b'{"order_id": "%s"}'),
        ("application/x-www-form-urlencoded", b"order_id=%s"),
        (
            "multipart/form-data; boundary=x",
            (
                b"--x\r\nContent-Disposition: form-data; "
                b'name="order_id"\r\n\r\n%s\r\n--x--\r\n'
            ),
        ),
        ("application/jsonx", b'{"order_id": "%s"}'),
        ("application/xml", b"<order_id>%s</order_id>"),
        (None, b'{"order_id": "%s"}'),
    ]
    for index, (content_type, template) in enumerate(content_types):
        add(
            Case(
                f"create-content-type-{index}",
                "admin",
                lambda c, t=template, ct=content_type: (
                    "POST",
                    CREATE,
                    _raw(t.replace(b"%s", c["payable"]["uuid"].encode()), ct),
                ),
                code="unsupported_content_type",
            )
        )
        add(
            Case(
                f"pay-content-type-{index}",
                "admin",
                lambda c, t=template, ct=content_type: (
                    "POST",
                    PAY.format(c["payable"]["uuid"]),
                    _raw(t.replace(b"%s", c["payable"]["uuid"].encode()), ct),
                ),
                code="unsupported_content_type",
            )
        )

    # huge bodies (with and without Content-Length, with and without auth)
    huge = json.dumps({"order_id": "x" * (API_MAX + 10)}).encode()
    for who in ("admin", "anonymous"):
        add(
            Case(
                f"create-huge-{who}",
                who,
                lambda c, b=huge: ("POST", CREATE, _raw(b)),
                expect=(413,),
                code="body_too_large",
            )
        )
        add(
            Case(
                f"pay-huge-{who}",
                who,
                lambda c, b=huge: ("POST", PAY.format(c["payable"]["uuid"]), _raw(b)),
                expect=(413,),
                code="body_too_large",
            )
        )
    add(
        Case(
            "create-huge-chunked",
            "admin",
            lambda c: ("POST", CREATE, _chunked(API_MAX + 10)),
            expect=(413,),
            code="body_too_large",
        )
    )
    add(
        Case(
            "pay-huge-chunked",
            "admin",
            lambda c: ("POST", PAY.format(c["payable"]["uuid"]), _chunked(API_MAX + 1)),
            expect=(413,),
            code="body_too_large",
        )
    )

    # strings no database or URL can hold
    for index, value in enumerate(
        [f"{FRONTEND_URL}/done\ud800", f"{FRONTEND_URL}/\udfff", "\ud83d"]
    ):
        add(
            Case(
                f"pay-return-url-lone-surrogate-{index}",
                "admin",
                lambda c, v=value: (
                    "POST",
                    PAY.format(c["fresh_order"]()["uuid"]),
                    _json({"return_url": v}),
                ),
                code="invalid_field",
            )
        )
        add(
            Case(
                f"create-return-url-lone-surrogate-{index}",
                "admin",
                lambda c, v=value: (
                    "POST",
                    CREATE,
                    _json({"order_id": c["fresh_order"]()["uuid"], "return_url": v}),
                ),
                code="invalid_field",
            )
        )
    add(
        Case(
            "create-order-id-lone-surrogate",
            "admin",
            lambda c: ("POST", CREATE, _json({"order_id": "\ud800"})),
            code="invalid_field",
        )
    )

    # check_status
    for index, value in enumerate(
        [
            "",
            "cs_",
            "pi_123",
            "cs_test_a\nb",
            "cs_test_\x00",
            "cs_" + "a" * 251,
            *[f"cs_{i}" for i in INJECTIONS],
        ]
    ):
        add(
            Case(
                f"status-session-id-{index}",
                "admin",
                lambda c, v=value: ("GET", STATUS, {"params": {"session_id": v}}),
                code="invalid_field",
            )
        )
    add(Case("status-no-session-id", "admin", lambda c: ("GET", STATUS, {})))
    add(
        Case(
            "status-unknown-session",
            "admin",
            lambda c: ("GET", STATUS, {"params": {"session_id": "cs_test_nope"}}),
            expect=(404,),
            code="payment_not_found",
        )
    )

    # methods
    for index, (method, path) in enumerate(
        [
            ("GET", PAY.format(uuid.uuid4())),
            ("PUT", CREATE),
            ("DELETE", CREATE),
            ("POST", STATUS),
            ("PATCH", STATUS),
            ("GET", WEBHOOK),
            ("PUT", WEBHOOK),
        ]
    ):
        add(
            Case(
                f"method-{index}-{method}",
                "admin",
                lambda c, m=method, p=path: (m, p, {}),
                expect=(405,),
            )
        )

    # credentials
    for index, header in enumerate(
        [
            "Bearer",
            "Bearer ",
            "Bearer x",
            "Basic YWRtaW46YWRtaW4=",  # admin:admin
            "Token {admin_key}",
            "Bearer {admin_key}x",
            "Bearer x{admin_key}",
            "Bearer ' OR '1'='1",
            "Bearer " + "k" * 10000,
            "Bearer {admin_key} {admin_key}",
        ]
    ):
        for route in ("pay", "status"):
            add(
                Case(
                    f"auth-{route}-{index}",
                    "anonymous",
                    lambda c, h=header, r=route: (
                        (
                            ("POST", PAY.format(c["payable"]["uuid"]))
                            if r == "pay"
                            else ("GET", STATUS)
                        )
                        + (
                            {
                                "headers": {
                                    "Authorization": h.format(admin_key=c["admin_key"])
                                },
                                "params": {"session_id": "cs_test_x"},
                            },
                        )
                    ),
                    expect=(401,),
                    code="invalid_credentials",
                )
            )
    return cases


def open_redirect_cases():
    """``return_url`` variants that would send the customer elsewhere than
    FRONTEND_URL's origin, the allow-list or Odoo's own origin."""
    front = FRONTEND_URL
    host = front.split("://", 1)[1]
    variants = [
        "https://evil.example/done",
        "//evil.example/done",
        "///evil.example/done",
        "/\\evil.example/done",
        "\\\\evil.example/done",
        "/done",
        "done",
        "evil.example",
        "javascript:alert(document.domain)//",
        "JaVaScRiPt:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "file:///etc/passwd",
        "ftp://" + host + "/done",
        "https:evil.example",
        "http:/evil.example",
        "http:\\\\evil.example",
        f"{front}@evil.example/done",
        f"http://user:pass@{host}/done",
        f"http://{host}@evil.example/done",
        f"http://evil.example#@{host}/",
        f"http://evil.example?@{host}/",
        f"http://evil.example\\@{host}/",
        f"http://{host}\\@evil.example/",
        f"http://{host}\uff03@evil.example/",
        f"http://evil.example\uff0f@{host}/",
        f"http://evil.example\uff0f.{host}/",
        f"http://{host}.evil.example/done",
        f"http://{host}%2F@evil.example/",
        f"{front}\t.evil.example",
        f"{front}\n.evil.example",
        f" {front}/done",
        f"{front}/done\r\nLocation: https://evil.example",
        f"{front}\x00.evil.example",
        # look-alikes: Latin small letter dotless i, Cyrillic o, fullwidth
        # letters, a Roman numeral fifty, and their punycode
        front.replace("l", "\u217c", 1),
        front.replace("o", "\u043e", 1),
        front.replace(
            "localhost", "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54"
        ),
        "http://xn--lcalhost-9we:3000/",
        "http://ev\u0131l.example/",
        "http://127.0.0.1:3000/done",
        "http://[::1]:3000/done",
        "http://0x7f000001:3000/done",
        "http://localhost:3001/done",
        "https://localhost:3000/done" if front.startswith("http:") else front,
        "http://localhost:3000:80/done",
        front + "/" + "a" * 2000,
        "{base_url}@evil.example/",
        "{base_url}.evil.example/",
    ]
    cases = []
    for index, value in enumerate(dict.fromkeys(variants)):
        if value == front:
            continue
        for route in ("pay", "create"):
            cases.append(
                Case(
                    f"return-url-{route}-{index}",
                    "admin",
                    lambda c, v=value, r=route: _return_url_request(c, v, r),
                    code="return_url_not_allowed",
                )
            )
    return cases


def _return_url_request(c, value, route):
    value = value.replace("{base_url}", c["base_url"])
    if route == "pay":
        return "POST", PAY.format(c["payable"]["uuid"]), _json({"return_url": value})
    body = {"order_id": c["payable"]["uuid"], "return_url": value}
    return "POST", CREATE, _json(body)


def idor_cases():
    """Other customers' orders and payments, reached by the portal customer
    (API key, session) and by visitors, with and without access tokens."""
    cases = []
    add = cases.append
    for who in ("portal_key", "portal_session"):
        add(
            Case(
                f"idor-pay-{who}",
                who,
                lambda c: ("POST", PAY.format(c["victim"]["uuid"]), _json({})),
                expect=(404,),
                code="order_not_found",
                absent=("victim_name", "victim_email"),
            )
        )
        add(
            Case(
                f"idor-pay-with-token-{who}",
                who,
                lambda c: (
                    "POST",
                    PAY.format(c["victim"]["uuid"]),
                    {
                        **_json({"access_token": c["victim"]["access_token"]}),
                        "params": {"access_token": c["victim"]["access_token"]},
                    },
                ),
                expect=(404,),
                code="order_not_found",
            )
        )
        add(
            Case(
                f"idor-create-{who}",
                who,
                lambda c: ("POST", CREATE, _json({"order_id": c["victim"]["uuid"]})),
                expect=(404,),
                code="order_not_found",
            )
        )
        add(
            Case(
                f"idor-status-{who}",
                who,
                lambda c: (
                    "GET",
                    STATUS,
                    {
                        "params": {
                            "session_id": c["victim_payment"]["checkout_session_id"]
                        }
                    },
                ),
                expect=(404,),
                code="payment_not_found",
                absent=("victim_name", "victim_email"),
            )
        )
    add(
        Case(
            "session-post-without-json",
            "portal_session",
            lambda c: ("POST", PAY.format(c["own"]["uuid"]), _raw(b"", "text/plain")),
            code="unsupported_content_type",
        )
    )
    for name, build in {
        "pay": lambda c: ("POST", PAY.format(c["victim"]["uuid"]), _json({})),
        "create": lambda c: ("POST", CREATE, _json({"order_id": c["victim"]["uuid"]})),
        "status": lambda c: (
            "GET",
            STATUS,
            {"params": {"session_id": c["victim_payment"]["checkout_session_id"]}},
        ),
    }.items():
        add(
            Case(
                f"idor-{name}-anonymous",
                "anonymous",
                build,
                expect=(401,),
                code="authentication_required",
            )
        )
        add(
            Case(
                f"idor-{name}-public-session",
                "public_session",
                build,
                expect=(401,),
                code="authentication_required",
            )
        )

    # portal pages
    def page(order_key, token=None):
        def build(c):
            params = {} if token is None else {"access_token": token(c)}
            return "GET", f"/my/omochi_orders/{c[order_key]['id']}", {"params": params}

        return build

    for who in ("portal_session", "anonymous", "public_session"):
        add(
            Case(
                f"idor-page-{who}",
                who,
                page("victim"),
                expect=(404,),
                absent=("victim_name", "victim_email"),
            )
        )
        for index, token in enumerate(
            [
                lambda c: "wrong",
                lambda c: c["own"]["access_token"],  # a token of another order
                lambda c: c["victim"]["access_token"][:-1],
                lambda c: c["victim"]["access_token"].upper(),
                lambda c: "",
                *[lambda c, i=i: i for i in INJECTIONS],
            ]
        ):
            add(
                Case(
                    f"idor-page-token-{index}-{who}",
                    who,
                    page("victim", token),
                    expect=(404,),
                    absent=("victim_name", "victim_email"),
                )
            )
    for index, path in enumerate(
        [
            "/my/omochi_orders/999999999",
            "/my/omochi_orders/-1",
            "/my/omochi_orders/abc",
            "/my/omochi_orders/1e3",
        ]
    ):
        add(
            Case(
                f"page-bad-id-{index}",
                "portal_session",
                lambda c, p=path: ("GET", p, {}),
                expect=(404,),
            )
        )

    def portal_pay(order_key, session_csrf, token=None):
        def build(c):
            data = {"csrf_token": c[session_csrf]} if session_csrf else {}
            if token:
                data["access_token"] = token(c)
            return "POST", f"/my/omochi_orders/{c[order_key]['id']}/pay", {"data": data}

        return build

    add(
        Case(
            "idor-portal-pay-portal",
            "portal_session",
            portal_pay("victim", "portal_csrf"),
            expect=(404,),
        )
    )
    add(
        Case(
            "idor-portal-pay-portal-wrong-token",
            "portal_session",
            portal_pay("victim", "portal_csrf", lambda c: c["own"]["access_token"]),
            expect=(404,),
        )
    )
    add(
        Case(
            "idor-portal-pay-public-wrong-token",
            "public_session",
            portal_pay("victim", "public_csrf", lambda c: "wrong"),
            expect=(404,),
        )
    )
    for index, token in enumerate((INJECTIONS[0], "\u202e\xe9t\xe9")):
        add(
            Case(
                f"idor-portal-pay-public-injection-token-{index}",
                "public_session",
                portal_pay("victim", "public_csrf", lambda c, t=token: t),
                expect=(404,),
            )
        )
    add(
        Case(
            "portal-pay-without-csrf",
            "portal_session",
            portal_pay("own", None),
            expect=(400, 403),
        )
    )
    add(
        Case(
            "portal-pay-forged-csrf",
            "public_session",
            lambda c: (
                "POST",
                f"/my/omochi_orders/{c['own']['id']}/pay",
                {
                    "data": {
                        "csrf_token": "0" * 40 + "o9999999999",
                        "access_token": c["own"]["access_token"],
                    }
                },
            ),
            expect=(400, 403),
        )
    )

    # the status page: unknown or garbled sessions are a 404 page
    for index, value in enumerate([*INJECTIONS, "cs_test_nope", "cs_", "x" * 3000]):
        add(
            Case(
                f"status-page-session-{index}",
                "anonymous",
                lambda c, v=value: (
                    "GET",
                    "/omochi/payment/status",
                    {"params": {"session_id": v, "status": v}},
                ),
                expect=(404,),
            )
        )
    return cases


def _event_body(c, event_id=None, **object_values):
    """A forged ``checkout.session.completed`` for the other customer's payment."""
    payment = c["victim_payment"]
    stripe_object = {
        "id": payment["checkout_session_id"],
        "object": "checkout.session",
        "client_reference_id": payment["payment_id"],
        "status": "complete",
        "payment_status": "paid",
        "amount_total": 1300,
        "currency": "eur",
        "payment_intent": "pi_forged",
        "metadata": {"payment_id": payment["payment_id"]},
        **object_values,
    }
    event = {
        "id": event_id or f"evt_forged_{uuid.uuid4().hex}",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1_800_000_000,
        "livemode": False,
        "data": {"object": stripe_object},
    }
    return json.dumps(event).encode()


def webhook_cases():
    """Forged, tampered, stale webhooks, and signed bodies that are no events."""
    cases = []

    def forged(header):
        def build(c):
            body = _event_body(c)
            headers = {"Content-Type": "application/json"}
            value = header(c, body)
            if value is not None:
                headers["Stripe-Signature"] = value
            return "POST", WEBHOOK, {"data": body, "headers": headers}

        return build

    def sign(body, secret, timestamp=None):
        return signature_header(body, secret, timestamp=timestamp)

    def now():
        return int(time.time())

    def upper_hex(c, body):
        timestamp, _, value = sign(body, c["secret"]).partition(",v1=")
        return f"{timestamp},v1={value.upper()}"

    signed = {
        "no-header": lambda c, b: None,
        "empty-header": lambda c, b: "",
        "garbage": lambda c, b: "garbage",
        "timestamp-only": lambda c, b: f"t={now()}",
        "v1-only": lambda c, b: sign(b, c["secret"]).split(",", 1)[1],
        "wrong-secret": lambda c, b: sign(b, "whsec_wrong"),
        "api-key-as-secret": lambda c, b: sign(
            b, os.environ["OMOCHI_TEST_STRIPE_SECRET_KEY"]
        ),
        "admin-key-as-secret": lambda c, b: sign(b, c["admin_key"]),
        "empty-secret": lambda c, b: sign(b, ""),
        "other-body": lambda c, b: sign(b + b" ", c["secret"]),
        "stale": lambda c, b: sign(b, c["secret"], now() - 301),
        "future": lambda c, b: sign(b, c["secret"], now() + 3600),
        "v0-only": lambda c, b: sign(b, c["secret"]).replace("v1=", "v0="),
        "upper-hex": upper_hex,
        "two-timestamps": lambda c, b: f"t={now() - 1000}," + sign(b, c["secret"]),
        "too-long": lambda c, b: sign(b, c["secret"]) + ",x=" + "0" * 5000,
        "latin1-digits": lambda c, b: "t=\xb2\xb3,v1=" + "0" * 64,
        "latin1-bytes": lambda c, b: f"t={now()},v1=\xff\xfe\xe9",
        "injection": lambda c, b: f"t={now()},v1={INJECTIONS[0]}",
        "negative-t": lambda c, b: sign(b, c["secret"], -1),
    }
    for name, header in signed.items():
        cases.append(
            Case(
                f"webhook-forged-{name}",
                "anonymous",
                forged(header),
                code="invalid_signature",
            )
        )

    def tampered(c):
        body = _event_body(c)
        header = sign(body, c["secret"])
        body = body.replace(b'"amount_total": 1300', b'"amount_total": 1301')
        return "POST", WEBHOOK, {"data": body, "headers": {"Stripe-Signature": header}}

    cases.append(
        Case("webhook-tampered", "anonymous", tampered, code="invalid_signature")
    )

    def signed_body(body, content_type="application/json"):
        def build(c):
            data = body(c) if callable(body) else body
            headers = {"Stripe-Signature": sign(data, c["secret"])}
            if content_type:
                headers["Content-Type"] = content_type
            return "POST", WEBHOOK, {"data": data, "headers": headers}

        return build

    not_events = {
        "not-json": b"hello",
        "array": b"[]",
        "string": b'"evt_x"',
        "no-id": b'{"type": "x", "data": {"object": {}}}',
        "id-not-evt": b'{"id": "x", "type": "x", "data": {"object": {}}}',
        "type-not-str": b'{"id": "evt_x", "type": 5, "data": {"object": {}}}',
        "object-not-dict": b'{"id": "evt_x", "type": "x", "data": {"object": []}}',
        "no-data": b'{"id": "evt_x", "type": "x"}',
        "invalid-utf8": b'{"id": "evt_\xff", "type": "x", "data": {"object": {}}}',
        "nested": b'{"id": "evt_x", "type": "x", "data": '
        + b"[" * 20000
        + b"]" * 20000
        + b"}",
    }
    for name, body in not_events.items():
        cases.append(
            Case(
                f"webhook-signed-{name}",
                "anonymous",
                signed_body(body),
                code="invalid_payload",
            )
        )
    big = b'{"id": "evt_big", "pad": "' + b"x" * WEBHOOK_MAX + b'"}'
    cases.append(
        Case(
            "webhook-huge",
            "anonymous",
            signed_body(big),
            expect=(413,),
            code="body_too_large",
        )
    )

    def chunked(c):
        kwargs = _chunked(WEBHOOK_MAX + 10)
        kwargs["headers"]["Stripe-Signature"] = sign(b"", c["secret"])
        return "POST", WEBHOOK, kwargs

    cases.append(
        Case(
            "webhook-huge-chunked",
            "anonymous",
            chunked,
            expect=(413,),
            code="body_too_large",
        )
    )
    cases.append(
        Case(
            "webhook-forged-text-plain",
            "anonymous",
            lambda c: (
                "POST",
                WEBHOOK,
                {
                    "data": _event_body(c),
                    "headers": {
                        "Content-Type": "text/plain",
                        "Stripe-Signature": "t=1,v1=00",
                    },
                },
            ),
            code="invalid_signature",
        )
    )
    return cases


CASES = api_cases() + open_redirect_cases() + idor_cases() + webhook_cases()
RESPONSES = []  # (case id, response) of the whole module


def send(ctx, case, method, path, kwargs):
    kwargs = dict(kwargs)
    headers = dict(kwargs.pop("headers", {}))
    client = requests
    if case.who == "admin":
        headers.setdefault("Authorization", f"Bearer {ctx['admin_key']}")
    elif case.who == "portal_key":
        headers.setdefault("Authorization", f"Bearer {ctx['portal_key']}")
    elif case.who == "portal_session":
        client = ctx["portal_session"]
    elif case.who == "public_session":
        client = ctx["public_session"]
    response = client.request(
        method,
        f"{ctx['url']}{path}",
        headers=headers,
        timeout=60,
        allow_redirects=False,
        **kwargs,
    )
    RESPONSES.append((case.id, response))
    return response


def assert_harmless(response, secrets, ctx, absent=()):
    """No server error, no secret, no unescaped script, no personal data."""
    assert response.status_code < 500, (response.status_code, response.text[:2000])
    exposed = response.text + "\n".join(
        f"{k}: {v}" for k, v in response.headers.items()
    )
    for name, secret in secrets.items():
        assert secret not in exposed, f"the {name} is in the answer"
    assert XSS not in response.text
    assert "onerror=omochi_xss()" not in response.text
    for key in absent:
        assert ctx[key] not in response.text, f"{key} is in the answer"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_hostile_request_is_refused(case, ctx, secrets, webhook_secret):
    ctx["secret"] = webhook_secret
    method, path, kwargs = case.build(ctx)
    before = snapshot(ctx)
    response = send(ctx, case, method, path, kwargs)
    assert_harmless(response, secrets, ctx, case.absent)
    assert response.status_code in case.expect, (
        response.status_code,
        response.text[:2000],
    )
    if case.code:
        assert response.headers["Content-Type"].startswith("application/json")
        error = response.json()["error"]
        assert error["code"] == case.code, error
        assert error["message"]
    assert snapshot(ctx) == before, "a refused request changed something"


# ------------------------------------------------ accepted, yet harmless
@pytest.mark.parametrize("value", INJECTIONS)
def test_portal_list_ignores_injected_sort_and_filter(value, ctx, secrets):
    """Unknown sort/filter keys fall back to the defaults: the page answers
    and shows only the customer's orders, never the injected text raw."""
    # A plain visit first: listing gives orders without one their access
    # token (a legitimate write of Odoo's portal).
    ctx["portal_session"].get(f"{ctx['url']}/my/omochi_orders", timeout=60)
    before = snapshot(ctx)
    response = ctx["portal_session"].get(
        f"{ctx['url']}/my/omochi_orders",
        params={"sortby": value, "filterby": value, "page": 1},
        timeout=60,
    )
    assert response.status_code == 200, response.text[:2000]
    assert_harmless(response, secrets, ctx, ("victim_name",))
    assert f"/my/omochi_orders/{ctx['own']['id']}" in response.text
    assert f"/my/omochi_orders/{ctx['victim']['id']}" not in response.text
    for path in (
        f"/my/omochi_orders/{ctx['own']['id']}",
        "/my/omochi_orders/page/99999",
    ):
        page = ctx["portal_session"].get(
            f"{ctx['url']}{path}",
            params={"error": value, "success": value, "message": value},
            timeout=60,
        )
        assert page.status_code == 200, page.text[:2000]
        assert_harmless(page, secrets, ctx, ("victim_name",))
    assert snapshot(ctx) == before


def test_status_page_of_another_customers_session_shows_nothing_personal(ctx, secrets):
    """The session id is the status page's only credential: the page answers
    with the status, but neither the customer nor a link to the order."""
    session_id = ctx["victim_payment"]["checkout_session_id"]
    for params in (
        {"session_id": session_id},
        {"session_id": session_id, "order_token": "wrong"},
        {
            "status": "cancelled",
            "order_id": ctx["victim"]["uuid"],
            "order_token": "wrong",
        },
        {
            "status": "cancelled",
            "order_id": ctx["victim"]["uuid"],
            "order_token": ctx["own"]["access_token"],
        },
        {"status": "cancelled", "order_id": XSS, "order_token": XSS},
        {
            "status": "cancelled",
            "order_id": ctx["victim"]["uuid"],
            "order_token": "\u202e\xe9t\xe9",
        },
        {"session_id": session_id, "order_token": "\xe9"},
    ):
        response = requests.get(
            f"{ctx['url']}/omochi/payment/status", params=params, timeout=60
        )
        assert response.status_code == 200, response.text[:2000]
        assert_harmless(response, secrets, ctx, ("victim_name", "victim_email"))
        assert f"/my/omochi_orders/{ctx['victim']['id']}" not in response.text
        assert ctx["victim"]["access_token"] not in response.text


def test_cors_is_refused_to_foreign_origins(ctx, secrets):
    for origin in (
        "https://evil.example",
        "null",
        f"{FRONTEND_URL}.evil.example",
        FRONTEND_URL.replace("http", "https", 1),
    ):
        for method, path in (
            ("OPTIONS", PAY.format(ctx["payable"]["uuid"])),
            ("OPTIONS", CREATE),
            ("GET", STATUS),
        ):
            response = requests.request(
                method,
                f"{ctx['url']}{path}",
                headers={
                    "Origin": origin,
                    "Access-Control-Request-Method": "POST",
                    "Authorization": f"Bearer {ctx['admin_key']}",
                },
                params={"session_id": "cs_test_nope"},
                timeout=60,
            )
            assert response.status_code < 500
            assert_harmless(response, secrets, ctx)
            assert "Access-Control-Allow-Origin" not in response.headers, origin


def _deliver(ctx, body, header):
    return requests.post(
        f"{ctx['url']}{WEBHOOK}",
        data=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        timeout=60,
    )


def test_signed_event_with_injected_strings_is_stored_verbatim(
    ctx, secrets, webhook_secret
):
    """An authentic event carrying injection strings is stored as sent
    (bound parameters), matches no payment, and harms nothing."""
    admin = ctx["admin"]
    before = snapshot(ctx)
    tag = uuid.uuid4().hex[:6]
    injected = {
        # handled type: looked up by the injected ids, matches nothing
        f"evt_{tag}_a' OR '1'='1": (
            "checkout.session.completed",
            {
                "id": "cs_' OR '1'='1",
                "client_reference_id": "' OR 1=1--",
                "payment_intent": "pi_'; DROP TABLE omochi_order;--",
            },
        ),
        # unhandled type: ignored
        f"evt_{tag}_b{XSS}": (f"{XSS}'; DROP TABLE omochi_payment_event;--", {}),
    }
    for event_id, (event_type, stripe_object) in injected.items():
        body = json.dumps(
            {"id": event_id, "type": event_type, "data": {"object": stripe_object}}
        ).encode()
        response = _deliver(ctx, body, signature_header(body, webhook_secret))
        assert response.status_code == 200, response.text
        assert_harmless(response, secrets, ctx)
        assert response.json()["duplicate"] is False
        ctx["wait_events_applied"]([event_id])
        [stored] = admin(
            "omochi.payment.event",
            "search_read",
            [[("stripe_event_id", "=", event_id)]],
            {"fields": ["type", "payload", "state", "transaction_id"]},
        )
        assert stored["type"] == event_type
        assert stored["payload"].encode() == body
        assert stored["transaction_id"] is False
        assert stored["state"] in ("ignored", "failed")
    after = snapshot(ctx)
    assert after["events"] == before["events"] + 2
    for key in ("events", "last event write"):
        del before[key], after[key]
    assert after == before


def test_replayed_webhook_changes_nothing(ctx, secrets, webhook_secret, admin_api_key):
    """A genuine event delivered, then replayed as captured (same body and
    header) within the tolerance: a duplicate, nothing written; replayed
    with its old timestamp after the tolerance: refused."""
    admin = ctx["admin"]
    partner = admin("res.partner", "create", [{"name": "Hostile Replay"}])
    line = {"name": "Daifuku", "quantity": 1, "price_unit": 9.0}
    order = admin(
        "omochi.order",
        "create",
        [{"partner_id": partner, "line_ids": [(0, 0, line)]}],
    )
    admin("omochi.order", "action_confirm", [[order]])
    [values] = admin("omochi.order", "read", [[order], ["uuid"]])
    paid = requests.post(
        f"{ctx['url']}{PAY.format(values['uuid'])}",
        headers={"Authorization": f"Bearer {admin_api_key}"},
        timeout=60,
    )
    assert paid.status_code == 201, paid.text
    session_id = paid.json()["checkout_session_id"]
    requests.post(
        f"{ctx['simulator_url']}/_sim/checkout/sessions/{session_id}/complete",
        json={"outcome": "paid"},
        timeout=10,
    ).raise_for_status()
    events = requests.get(
        f"{ctx['simulator_url']}/_sim/events",
        params={"type": "checkout.session.completed"},
        timeout=10,
    ).json()["data"]
    [event] = [e for e in events if e["data"]["object"]["id"] == session_id]
    body = json.dumps(event).encode()
    header = signature_header(body, webhook_secret)

    first = _deliver(ctx, body, header)
    assert first.status_code == 200, first.text
    assert first.json() == {"received": True, "duplicate": False}
    assert ctx["wait_events_applied"]([event["id"]]) == {event["id"]: "done"}
    before = snapshot(ctx)
    replies = []
    threads = [
        threading.Thread(target=lambda: replies.append(_deliver(ctx, body, header)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(replies) == 4
    for reply in replies:
        assert reply.status_code == 200, reply.text
        assert reply.json()["duplicate"] is True
        assert_harmless(reply, secrets, ctx)
    stale = signature_header(body, webhook_secret, int(time.time()) - 301)
    refused = _deliver(ctx, body, stale)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_signature"
    assert snapshot(ctx) == before
    [stored] = admin(
        "omochi.payment.event",
        "search_read",
        [[("stripe_event_id", "=", event["id"])]],
        {"fields": ["attempts", "state"]},
    )
    assert (stored["attempts"], stored["state"]) == (1, "done")


# ------------------------------------------------------------ the server log
def test_the_cases_reached_the_server():
    assert len(RESPONSES) >= len(CASES), "runs after the case tables"


def test_no_secret_in_the_server_log(odoo_log, secrets):
    """Whatever ran in this session (every suite before this one too), the
    live server never logged a key or secret."""
    text = odoo_log.read_text(errors="replace")
    assert text, "the server log is empty"
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} is in the server log {odoo_log}"


def test_no_server_error_logged_by_this_module(odoo_log, ctx):
    with odoo_log.open("rb") as log:
        log.seek(ctx["log_start"])
        text = log.read().decode(errors="replace")
    errors = [m.group(0) for m in LOG_ERROR.finditer(text)]
    context = [
        line for line in text.splitlines() if LOG_ERROR.match(line + " ")
    ]  # the whole lines, for the report
    assert not errors, "\n".join(context[:20])
