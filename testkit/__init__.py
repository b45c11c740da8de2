"""The project's one test kit, shared by the end-to-end tests (``tests/``)
and the benchmarks (``bench/``).

* :mod:`testkit.ports` picks free loopback ports;
* :mod:`testkit.db` reaches PostgreSQL with the settings of a config or of
  the ``OMOCHI_DB_*`` environment, copies and drops databases;
* :mod:`testkit.odoo` writes an Odoo config, runs Odoo commands (install,
  ``shell`` scripts) and starts and stops Odoo servers (threaded or prefork,
  with cron threads, with their log);
* :mod:`testkit.simulator` runs the Stripe simulator in a process of its own
  and drives its control API;
* :mod:`testkit.stripe_events` builds and signs Stripe events as Stripe
  sends them;
* :mod:`testkit.processes` stops child processes;
* :mod:`testkit.seeding` holds the building blocks of seed modules;
* :mod:`testkit.nginx` runs Debian's nginx in front of several servers.

It imports no Odoo: the processes it starts do.
"""
