"""Serve the example frontend (no build step) and pass ``/api/`` to Odoo.

    python3 frontend/server.py --port 3000 --odoo-url http://127.0.0.1:8069

The guide's JavaScript calls ``/api/...`` on its own origin, as a frontend
behind the same host as its API does; this server forwards those calls to
Odoo unchanged (method, body, ``Authorization``, ``Content-Type``) and serves
``/`` (pay an order) and ``/payment/status`` (where Stripe Checkout returns).
Standard library only.
"""

import argparse
import urllib.error
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAGES = {"/": "index.html", "/payment/status": "status.html"}
STATIC = {"guide.js", "app.js", "style.css"}
FORWARDED_HEADERS = ("Authorization", "Content-Type", "Accept", "Origin")
MAX_BODY = 1024 * 1024


class FrontendHandler(SimpleHTTPRequestHandler):
    odoo_url = "http://127.0.0.1:8069"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(HERE), **kwargs)

    def do_GET(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_OPTIONS(self):
        self._route()

    def _route(self):
        path = self.path.split("?", 1)[0]
        if path.startswith("/api/"):
            self._forward()
        elif self.command == "GET" and path in PAGES:
            self._file(PAGES[path], "text/html; charset=utf-8")
        elif self.command == "GET" and path.startswith("/static/"):
            name = path.removeprefix("/static/")
            kind = "text/css" if name.endswith(".css") else "text/javascript"
            self._file(name, kind) if name in STATIC else self.send_error(404)
        else:
            self.send_error(404)

    def _file(self, name, content_type):
        body = (HERE / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _forward(self):
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length) if length else None
        headers = {k: self.headers[k] for k in FORWARDED_HEADERS if self.headers[k]}
        request = urllib.request.Request(
            self.odoo_url + self.path, data=body, headers=headers, method=self.command
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, answer_headers, payload = (
                    answer.status,
                    answer.headers,
                    answer.read(),
                )
        except urllib.error.HTTPError as error:
            status, answer_headers, payload = error.code, error.headers, error.read()
        except OSError as error:
            self.send_error(502, f"Odoo is not reachable: {error}")
            return
        self.send_response(status)
        self.send_header(
            "Content-Type", answer_headers.get("Content-Type", "application/json")
        )
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(payload)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000)
    parser.add_argument("--odoo-url", default="http://127.0.0.1:8069")
    options = parser.parse_args(argv)
    FrontendHandler.odoo_url = options.odoo_url.rstrip("/")
    server = ThreadingHTTPServer((options.host, options.port), FrontendHandler)
    print(
        f"Example frontend on http://{options.host}:{options.port}, "
        f"API calls to {options.odoo_url}"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
