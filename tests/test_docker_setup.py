"""Issue 10, 7: the Docker setup never opens the database manager.

Checked on the files themselves: ``docker-compose config`` (no Docker engine
needed) and the odoo container's entry point run with a stand-in for the
official image's one.
"""

import configparser
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ENTRYPOINT = REPO / "docker" / "odoo-entrypoint.sh"
SIMULATOR_SECRET = "whsec_omochi_docker_demo"


def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        return ["docker", "compose"]
    pytest.fail("docker-compose is needed to check docker-compose.yml")


def compose_config(**variables):
    """``docker-compose config`` in a clean environment plus ``variables``
    (no .env is read: the project directory is a copy without one)."""
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    env.update(variables)
    return subprocess.run(
        [*compose_command(), "-f", str(REPO / "docker-compose.yml"), "config"],
        cwd=REPO / "docker",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_refuses_to_start_without_a_master_password():
    result = compose_config()
    assert result.returncode != 0
    assert "ODOO_ADMIN_PASSWD" in result.stderr
    assert "set ODOO_ADMIN_PASSWD in .env" in result.stderr


def test_compose_passes_the_master_password_and_binds_loopback():
    result = compose_config(ODOO_ADMIN_PASSWD="s3cret-master")
    assert result.returncode == 0, result.stderr
    assert "ODOO_ADMIN_PASSWD: s3cret-master" in result.stdout
    assert "OMOCHI_STRIPE_SIMULATOR: '0'" in result.stdout
    assert "admin_passwd" not in result.stdout
    for port in ("8069", "12111"):
        assert f"127.0.0.1:{port}:{port}" in result.stdout


def test_odoo_conf_lists_no_database_and_has_no_master_password():
    parser = configparser.ConfigParser()
    parser.read(REPO / "docker" / "odoo.conf")
    options = parser["options"]
    assert options["list_db"] == "False"
    assert "admin_passwd" not in options


def run_entrypoint(tmp_path, **variables):
    """Run the entry point with a stand-in for the image's ``/entrypoint.sh``
    that prints the Stripe variables and the configuration Odoo would read."""
    stand_in = tmp_path / "next-entrypoint.sh"
    stand_in.write_text(
        "#!/bin/sh\n"
        'echo "key=${STRIPE_SECRET_KEY:-} base=${STRIPE_API_BASE:-}'
        ' webhook=${STRIPE_WEBHOOK_SECRET:-} args=$*"\n'
        'cat "$ODOO_RC"\n'
    )
    stand_in.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "OMOCHI_CONF_TEMPLATE": str(REPO / "docker" / "odoo.conf"),
        "OMOCHI_NEXT_ENTRYPOINT": str(stand_in),
        **variables,
    }
    return subprocess.run(
        ["sh", str(ENTRYPOINT), "odoo", "--init=omochi_payments"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_entrypoint_requires_the_master_password(tmp_path):
    result = run_entrypoint(tmp_path)
    assert result.returncode == 1
    assert "ODOO_ADMIN_PASSWD is not set" in result.stderr
    assert result.stdout == ""


def test_entrypoint_writes_the_master_password(tmp_path):
    result = run_entrypoint(tmp_path, ODOO_ADMIN_PASSWD="s3cret-master")
    assert result.returncode == 0, result.stderr
    assert "admin_passwd = s3cret-master" in result.stdout
    assert "list_db = False" in result.stdout
    assert "args=odoo --init=omochi_payments" in result.stdout


def test_simulator_secret_only_in_simulator_mode(tmp_path):
    real = run_entrypoint(
        tmp_path,
        ODOO_ADMIN_PASSWD="pw",
        STRIPE_SECRET_KEY="sk_test_real",
        OMOCHI_STRIPE_SIMULATOR="0",
    )
    assert real.returncode == 0, real.stderr
    assert SIMULATOR_SECRET not in real.stdout
    assert "key=sk_test_real base= webhook= " in real.stdout
    # Keys kept in Settings (nothing in .env): nothing is defaulted either.
    settings = run_entrypoint(tmp_path, ODOO_ADMIN_PASSWD="pw")
    assert "key= base= webhook= " in settings.stdout
    simulator = run_entrypoint(
        tmp_path, ODOO_ADMIN_PASSWD="pw", OMOCHI_STRIPE_SIMULATOR="1"
    )
    assert simulator.returncode == 0, simulator.stderr
    assert f"webhook={SIMULATOR_SECRET}" in simulator.stdout
    assert "base=http://stripe-sim:12111" in simulator.stdout
    both = run_entrypoint(
        tmp_path,
        ODOO_ADMIN_PASSWD="pw",
        OMOCHI_STRIPE_SIMULATOR="1",
        STRIPE_SECRET_KEY="sk_test_real",
    )
    assert both.returncode == 1
    assert "choose one" in both.stderr
