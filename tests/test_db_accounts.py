"""The site's database accounts travel with the backup: after a live restore into a fresh standby server,
the site's own user (MariaDB: with its password and grants; PostgreSQL: the owner role) works there."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from redundo import agent, drill
from redundo.localdb import LocalMariaDB, LocalPostgreSQL
from redundo.localvault import LocalVault
from redundo.tiers import TIERS
from tests.servers import mariadb, postgresql, require  # noqa: F401  (pytest fixtures)

PASSWORD = "accounts-test-password"


@pytest.fixture(autouse=True)
def _tools():
    require("restic", "curl", "sqlite3")


def _host(vault, root: Path, name: str, key, server, db_kind: str, db_name: str) -> drill.Host:
    return drill.Host(
        name,
        root / name,
        agent.AgentSettings.for_tier(
            TIERS["standard"],
            vault_endpoint=vault.endpoint,
            vault_bucket=vault.bucket,
            vault_region="us-east-1",
            backup_host="accounts-primary",
            site_paths=(str(root / "site" / "www"),),
            db_kind=db_kind,
            db_name=db_name,
            dump_dir=str(root / "dump"),
            state_dir=str(root / f"{name}-state"),
        ),
        {**key.env(), "RESTIC_PASSWORD": PASSWORD, **server.env},
    )


def _back_up_and_restore(
    tmp_path: Path, primary_server, standby_server, db_kind: str, db_name: str, backup_text: str | None = None
) -> str:
    with LocalVault.for_tier(TIERS["standard"]) as vault:
        drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
        drill.make_site(tmp_path / "site", size_mb=0.1, files=3)
        primary = _host(vault, tmp_path, "primary", vault.writer, primary_server, db_kind, db_name)
        if backup_text is not None:
            (primary.bin / "redundo-backup").write_text(backup_text)
        done = primary.run("redundo-backup", "backup", timeout=300)
        assert done.returncode == 0, done.stderr
        standby = _host(vault, tmp_path, "standby", vault.reader, standby_server, db_kind, db_name)
        done = standby.run("redundo-restore", "--live", timeout=300)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip().endswith("db=loaded")
        return done.stderr


def test_mariadb_site_user_logs_in_with_its_password_on_the_restored_standby(mariadb, tmp_path):
    require("mariadb-dump", "mariadb")
    database = mariadb.fresh_database("acct")
    user = f"{database}_app"
    mariadb.sql("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(64))", database)
    mariadb.sql("CREATE TABLE secrets (id INT PRIMARY KEY)", database)
    mariadb.sql("INSERT INTO orders VALUES (1, 'ring'), (2, 'necklace')", database)
    mariadb.sql(f"CREATE USER '{user}'@'localhost' IDENTIFIED BY 's3cret-pw'")
    mariadb.sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON `{database}`.`orders` TO '{user}'@'localhost'")
    mariadb.sql(f"GRANT CREATE ON `{database}`.* TO '{user}'@'localhost'")
    with LocalMariaDB() as standby:
        _back_up_and_restore(tmp_path, mariadb, standby, "mysql", database)

        def as_app(password: str, query: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [
                    "mariadb",
                    "--no-defaults",
                    f"--socket={standby.socket}",
                    f"--user={user}",
                    f"--password={password}",
                    "-N",
                    "-B",
                    database,
                    "-e",
                    query,
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )

        done = as_app("s3cret-pw", "SELECT item FROM orders ORDER BY id")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["ring", "necklace"]
        # Its grants came along exactly: the table it was not granted stays closed to it.
        assert as_app("s3cret-pw", "SELECT * FROM secrets").returncode != 0
        assert as_app("wrong-password", "SELECT 1").returncode != 0
        # root and the server's own accounts are the standby's: root still connects over its socket.
        assert standby.sql("SELECT 1").strip() == "1"


def test_postgresql_owner_role_comes_back_and_owns_the_restored_tables(postgresql, tmp_path):
    require("pg_dumpall", "pg_dump", "pg_restore", "psql")
    database = postgresql.fresh_database("acct")
    role = f"{database}_owner"
    postgresql.sql(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret-pw'")
    postgresql.sql(f"ALTER DATABASE {database} OWNER TO {role}")
    postgresql.sql(
        f"CREATE TABLE orders (id integer PRIMARY KEY, item text); ALTER TABLE orders OWNER TO {role};"
        "INSERT INTO orders VALUES (1, 'ring'), (2, 'necklace')",
        database,
    )
    with LocalPostgreSQL() as standby:
        _back_up_and_restore(tmp_path, postgresql, standby, "postgresql", database)
        assert standby.sql(f"SELECT rolcanlogin FROM pg_roles WHERE rolname = '{role}'").strip() == "t"
        # The same password (its SCRAM verifier) as on the primary.
        verifier = f"SELECT rolpassword FROM pg_authid WHERE rolname = '{role}'"
        assert standby.sql(verifier).strip() == postgresql.sql(verifier).strip() != ""
        assert standby.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'orders'", database).strip() == role
        assert (
            standby.sql(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'").strip() == role
        )
        # The role itself reads its tables.
        done = subprocess.run(
            ["psql", "-X", "-A", "-t", "-U", role, "-d", database, "-c", "SELECT item FROM orders ORDER BY id"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **standby.env, "PGUSER": role, "PGPASSWORD": "s3cret-pw"},
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["ring", "necklace"]
        # The standby's superuser is its own still.
        assert standby.sql("SELECT 1").strip() == "1"


def test_postgresql_snapshot_without_roles_still_loads_owned_by_the_superuser(postgresql, tmp_path):
    """A snapshot made before roles were backed up: the restore loads it without owners and says so."""
    require("pg_dump", "pg_restore", "psql")
    database = postgresql.fresh_database("acct")
    role = f"{database}_owner"
    postgresql.sql(f"CREATE ROLE {role} LOGIN PASSWORD 's3cret-pw'")
    postgresql.sql(
        f"CREATE TABLE orders (id integer PRIMARY KEY); ALTER TABLE orders OWNER TO {role};"
        "INSERT INTO orders VALUES (1), (2)",
        database,
    )
    text = agent.script("redundo-backup")
    old = text.replace('dump_postgresql_roles > "${DUMP_DIR}/site-roles.sql.tmp"', ":").replace(
        'mv "${DUMP_DIR}/site-roles.sql.tmp" "${DUMP_DIR}/site-roles.sql" ;;', ";;"
    )
    assert old != text
    with LocalPostgreSQL() as standby:
        stderr = _back_up_and_restore(tmp_path, postgresql, standby, "postgresql", database, backup_text=old)
        assert "this snapshot carries no database roles" in stderr
        assert standby.sql("SELECT count(*) FROM orders", database).strip() == "2"
        assert standby.sql(f"SELECT count(*) FROM pg_roles WHERE rolname = '{role}'").strip() == "0"


def test_a_backup_clears_the_watchdogs_no_backups_notice(tmp_path):
    """After an automatic take-over the watchdog leaves BACKUPS-NOT-RUNNING; the first backup with the
    writer key (after `redundo failover`) removes it."""
    with LocalVault.for_tier(TIERS["standard"]) as vault:
        drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
        drill.make_site(tmp_path / "site", size_mb=0.1, files=3)
        host = drill.Host(
            "standby",
            tmp_path / "standby",
            agent.AgentSettings.for_tier(
                TIERS["standard"],
                vault_endpoint=vault.endpoint,
                vault_bucket=vault.bucket,
                vault_region="us-east-1",
                backup_host="accounts-primary",
                site_paths=(str(tmp_path / "site" / "www"),),
                db_kind="sqlite",
                db_path=str(tmp_path / "site" / "db" / "site.sqlite"),
                dump_dir=str(tmp_path / "dump"),
                state_dir=str(tmp_path / "state"),
            ),
            {**vault.writer.env(), "RESTIC_PASSWORD": PASSWORD},
        )
        (tmp_path / "state").mkdir()
        notice = tmp_path / "state" / "BACKUPS-NOT-RUNNING"
        notice.write_text("this host took over ...\n")
        done = host.run("redundo-backup", "backup", timeout=300)
        assert done.returncode == 0, done.stderr
        assert not notice.exists()
