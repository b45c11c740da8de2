"""Debian's nginx in front of several servers, as a load balancer: its own
config file and temporary folders, on a free loopback port, in the
foreground (``daemon off``), stopped with the test."""

import os
import shutil
import subprocess
import time
from pathlib import Path

from . import processes
from .ports import LOOPBACK, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
#: One access-log line per request: the upstream(s) tried, their statuses,
#: nginx's status, the time taken, the method and path.
LOG_FORMAT = (
    "$upstream_addr|$upstream_status|$status|$request_time|$request_method|$uri"
)

CONFIG = """\
{user}
daemon off;
master_process on;
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {root}/client_body;
    proxy_temp_path {root}/proxy;
    fastcgi_temp_path {root}/fastcgi;
    uwsgi_temp_path {root}/uwsgi;
    scgi_temp_path {root}/scgi;
    log_format omochi '{log_format}';
    access_log {root}/access.log omochi;
    upstream odoo {{
{servers}
    }}
    server {{
        listen {host}:{port};
        client_max_body_size 10m;
        location / {{
            proxy_pass http://odoo;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
            proxy_connect_timeout 5s;
            proxy_read_timeout {read_timeout}s;
            proxy_send_timeout {read_timeout}s;
        }}
    }}
}}
"""


class Nginx(processes.Service):
    """nginx balancing over ``upstreams`` (``host:port`` strings) round-robin.

    A request that could not be sent to one server goes to the next (nginx's
    default); one sent and left unanswered gets a 502 (or 504 past
    ``read_timeout`` seconds), as a load balancer answers when a server dies.
    """

    name = "nginx"

    def __init__(self, upstreams, root, read_timeout=60):
        self.upstreams = list(upstreams)
        self.root = Path(root)
        self.read_timeout = read_timeout
        self.port = free_port()
        self.url = f"http://{LOOPBACK}:{self.port}"
        self.config = self.root / "nginx.conf"
        self.access_log = self.root / "access.log"
        self.health_url = f"{self.url}/web/health"

    def write_config(self):
        self.root.mkdir(parents=True, exist_ok=True)
        for folder in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.root / folder).mkdir(exist_ok=True)
        # Run as root, nginx's workers switch to a user: keep ours (the
        # temporary folders are ours).
        user = "user root;" if os.geteuid() == 0 else ""
        servers = "\n".join(
            f"        server {upstream} max_fails=1 fail_timeout=5s;"
            for upstream in self.upstreams
        )
        self.config.write_text(
            CONFIG.format(
                user=user,
                root=self.root,
                log_format=LOG_FORMAT,
                servers=servers,
                host=LOOPBACK,
                port=self.port,
                read_timeout=self.read_timeout,
            )
        )

    def spawn(self):
        self.write_config()
        command = [NGINX, "-p", str(self.root), "-c", str(self.config)]
        with open(self.root / "stderr.log", "ab") as stderr:
            return subprocess.Popen(
                [*command, "-e", str(self.root / "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )

    def log_entries(self):
        """The access log so far: dicts of ``upstreams`` (tried, in order),
        ``upstream_statuses``, ``status``, ``seconds``, ``method``, ``path``."""
        time.sleep(0.2)  # nginx writes its log lines after answering
        entries = []
        for line in self.access_log.read_text().splitlines():
            upstreams, statuses, status, seconds, method, path = line.split("|")
            entries.append(
                {
                    "upstreams": [u.strip() for u in upstreams.split(",")],
                    "upstream_statuses": [s.strip() for s in statuses.split(",")],
                    "status": int(status),
                    "seconds": float(seconds),
                    "method": method,
                    "path": path,
                }
            )
        return entries
