"""The private database servers the data-path tests run against start, answer and isolate."""

from __future__ import annotations

import os
import subprocess

from tests.servers import MariaDB, PostgreSQL, mariadb, postgresql  # noqa: F401  (pytest fixtures)


def test_mariadb_serves_on_loopback_and_the_stock_clients_reach_it(mariadb: MariaDB):
    """mysqldump, as the agent calls it, reaches the private server through the environment alone."""
    db = mariadb.fresh_database("shop")
    mariadb.sql("CREATE TABLE orders (id INT PRIMARY KEY, total INT); INSERT INTO orders VALUES (1, 42)", db)
    dump = subprocess.run(
        ["mysqldump", "--databases", db], capture_output=True, text=True, timeout=60, env={**os.environ, **mariadb.env}
    )
    assert dump.returncode == 0, dump.stderr
    assert "CREATE TABLE `orders`" in dump.stdout and "(1,42)" in dump.stdout
    assert mariadb.sql("SELECT @@bind_address, @@port").split() == ["127.0.0.1", str(mariadb.port)]


def test_postgresql_runs_as_a_non_root_user_and_pg_dump_reaches_it(postgresql: PostgreSQL):
    db = postgresql.fresh_database("shop")
    postgresql.sql("CREATE TABLE orders (id int primary key, total int); INSERT INTO orders VALUES (1, 42)", db)
    dump = subprocess.run(
        ["pg_dump", "--data-only", db], capture_output=True, text=True, timeout=60, env={**os.environ, **postgresql.env}
    )
    assert dump.returncode == 0, dump.stderr
    assert "1\t42" in dump.stdout
    owner = postgresql.sql("SELECT usename FROM pg_stat_activity WHERE pid = pg_backend_pid()").strip()
    assert owner != "root"
    assert postgresql.sql("SHOW listen_addresses").strip() == "127.0.0.1"
