"""A restored standby answers HTTP for the site with the restored content.

Real nginx and PHP-FPM serve the site file the stack program renders for the wordpress profile; a
real MariaDB holds the shop's orders; the real redundo-backup and redundo-restore move both
through a real S3 vault (moto). The primary burns (files deleted, database dropped) and the
standby's `redundo-restore --live` must bring back a site that serves the same page bytes and the
same database rows for the site's name.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from redundo import agent, drill, profiles
from redundo.agent.bundle import files_in_script
from redundo.localvault import LocalVault
from redundo.tiers import TIERS
from tests.conftest import synth, unwrap
from tests.servers import mariadb  # noqa: F401  (pytest fixture)
from tests.web import get, start_web, stop_web

DOMAIN = "jeweller-example.fr"
PASSWORD = "serving-test-password"
ORDERS = [(1, "silver ring"), (2, "gold chain"), (3, "pearl earrings")]


def _tools() -> None:
    missing = [t for t in ("restic", "curl") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} not installed")
        pytest.skip(f"{', '.join(missing)} not installed")


def _rendered(site_paths: list[str]) -> tuple[str, str]:
    """The wordpress profile's nginx site file and settings file, as the stack program delivers them."""
    syn = synth(tier="premium", siteProfile="wordpress", database="mysql", sitePaths=site_paths)
    install = next(r for r in syn.resources if r.name == "small-shop-standby-agent-install")
    files = files_in_script(unwrap(install.inputs["stdin"]))
    return files[profiles.SITE_FILE], files[agent.SETTINGS_FILE]


def _make_shop(root: Path, database: str, socket: str) -> dict[str, bytes]:
    """The shop's files: a static page with random bytes in it, and a PHP page that lists the orders."""
    root.mkdir(parents=True)
    pages = {
        "about.html": f"<h1>Jeweller</h1><p>{secrets.token_hex(16)}</p>\n".encode(),
        "orders.php": (
            f"<?php\n$db = new mysqli('localhost', 'root', '', '{database}', 0, '{socket}');\n"
            "foreach ($db->query('SELECT id, item FROM orders ORDER BY id') as $row) {\n"
            "    echo $row['id'], ' ', $row['item'], \"\\n\";\n}\n"
        ).encode(),
        "index.php": b"<?php echo 'shop front';\n",
    }
    for name, body in pages.items():
        (root / name).write_bytes(body)
    return pages


def _serve_check(host: drill.Host, web, db_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The node's own take-over check, asking this test's web server (the only change: its port)."""
    script = host.workdir / "redundo-serve-check"
    script.write_text(agent.script("redundo-serve-check"))
    script.chmod(0o755)
    return subprocess.run(
        [str(script), "--json"],
        env=host.env({**db_env, "SERVE_CHECK_URL": f"http://127.0.0.1:{web.port}"}),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _orders_text(rows) -> bytes:
    return "".join(f"{i} {item}\n" for i, item in rows).encode()


def test_serving_restored_standby_answers_for_the_site_with_the_restored_pages_and_rows(mariadb, tmp_path):
    _tools()
    www = tmp_path / "site" / "www"
    site_file, settings_text = _rendered([str(www)])
    web_root = Path(profiles.web_root((str(www),), DOMAIN))
    assert f"root {web_root};" in site_file  # the rendered file serves the directory the agent backs up
    assert "WEB_SERVICES='php8.2-fpm mariadb nginx'" in settings_text

    database = mariadb.fresh_database("shop")
    mariadb.sql("CREATE TABLE orders (id INT PRIMARY KEY, item VARCHAR(64))", database)
    mariadb.sql("INSERT INTO orders VALUES " + ", ".join(f"({i}, '{item}')" for i, item in ORDERS), database)
    pages = _make_shop(web_root, database, mariadb.socket)
    db_env = mariadb.env

    with LocalVault() as vault:
        drill.provision_repository(vault.repository, PASSWORD, vault.init.env())
        settings = agent.AgentSettings.for_tier(
            TIERS["premium"],
            vault_endpoint=vault.endpoint,
            vault_bucket=vault.bucket,
            vault_region="us-east-1",
            backup_host="shop-site",
            site_paths=(str(www),),
            db_kind="mysql",
            db_name=database,
            dump_dir=str(tmp_path / "dump"),
            state_dir=str(tmp_path / "primary-state"),
            web_services=profiles.PROFILES["wordpress"].web_services,
            site_domain=DOMAIN,
            web_root=str(web_root),
        )
        primary = drill.Host(
            "primary", tmp_path / "primary", settings, {**vault.writer.env(), "RESTIC_PASSWORD": PASSWORD}
        )
        done = primary.run("redundo-backup", "backup", extra_env=db_env, timeout=300)
        assert done.returncode == 0, done.stderr

        # The fire: the site's files and its database are gone.
        shutil.rmtree(www)
        mariadb.sql(f"DROP DATABASE `{database}`")
        web = start_web(tmp_path / "web", site_file, php=True)
        try:
            assert get(web, "/about.html", DOMAIN)[0] == 404
            assert get(web, "/orders.php", DOMAIN)[0] == 404  # nothing to run

            standby = drill.Host(
                "standby",
                tmp_path / "standby",
                agent.AgentSettings(**{**settings.__dict__, "state_dir": str(tmp_path / "standby-state")}),
                {**vault.reader.env(), "RESTIC_PASSWORD": PASSWORD},
            )
            refused = _serve_check(standby, web, db_env)
            assert refused.returncode == 1 and refused.stderr.strip().splitlines() == [
                f"redundo-serve-check: no web root {web_root}: nothing was restored to serve"
            ]
            done = standby.run("redundo-restore", "--live", extra_env=db_env, timeout=300)
            assert done.returncode == 0, done.stderr

            assert get(web, "/about.html", DOMAIN) == (200, pages["about.html"])
            assert get(web, "/orders.php", DOMAIN) == (200, _orders_text(ORDERS))
            assert get(web, "/", DOMAIN) == (200, b"shop front")
            assert get(web, "/", f"www.{DOMAIN}") == (200, b"shop front")

            # The take-over's own check agrees: the known page byte for byte, and the rows.
            checked = _serve_check(standby, web, db_env)
            assert checked.returncode == 0, checked.stderr
            report = json.loads(checked.stdout)
            assert report["path"] == "/about.html" and report["db_rows"] == len(ORDERS)
            assert report["sha256"] == __import__("hashlib").sha256(pages["about.html"]).hexdigest()
            # ... and it refuses a node whose database came back empty, even though every page is there.
            mariadb.sql("DELETE FROM orders", database)
            emptied = _serve_check(standby, web, db_env)
            assert emptied.returncode == 1 and emptied.stderr.strip().splitlines() == [
                f"redundo-serve-check: the mysql database {database} has 1 tables and no rows: the restore did "
                "not load it"
            ]
        finally:
            stop_web(web)
