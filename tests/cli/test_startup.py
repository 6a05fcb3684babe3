"""`redundo --help` must not pay for the cloud SDKs or rich."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from redundo.cli.main import app
try:
    app(["--help"], prog_name="redundo")
except SystemExit:
    pass
print()
print("MODULES=" + json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in
      ("pulumi", "pulumi_aws", "pulumi_ovh", "pulumi_random", "pulumi_policy", "rich", "yaml", "grpc"))))
"""


def test_startup_help_imports_no_cloud_sdk():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout.rsplit("MODULES=", 1)[1])
    assert loaded == [], f"--help imported {loaded}"
    assert "Usage: redundo" in done.stdout


PLAN_PROBE = """
import io, json, sys
from contextlib import redirect_stdout
from redundo import _lazy_sdk
from redundo.cli.main import app
out = io.StringIO()
with redirect_stdout(out):
    try:
        app(["plan", "--tier", "premium", "--json"], prog_name="redundo")
    except SystemExit as exc:
        assert exc.code in (0, None), exc.code
json.loads(out.getvalue())
print(json.dumps({
    "modules": sorted(sys.modules),
    "fully_loaded": [p for p in _lazy_sdk.SLIM if "__getattr__" not in vars(sys.modules[p])],
}))
"""


def test_startup_plan_loads_only_the_sdk_modules_the_program_uses():
    """plan imports neither pydantic (typer's coercion) nor rich, nor whole SDK sub-packages."""
    from tests.conftest import REPO

    done = subprocess.run([sys.executable, "-c", PLAN_PROBE], capture_output=True, text=True, check=True, cwd=REPO)
    report = json.loads(done.stdout)
    tops = {m.split(".")[0] for m in report["modules"]}
    assert "pulumi_aws" in tops and "pulumi_ovh" in tops  # the program did run
    assert not tops & {"pydantic", "rich", "pulumi_policy"}, sorted(tops & {"pydantic", "rich", "pulumi_policy"})
    assert report["fully_loaded"] == [], "these SDK sub-packages ran their whole __init__"
    # Resource modules of the same sub-packages that the program never uses stay unloaded.
    for unused in (
        "pulumi_aws.s3.access_point",
        "pulumi_aws.iam.role",
        "pulumi_ovh.cloudproject.kube",
        "pulumi_ovh.cloud_floating_ip",
        "pulumi_ovh.outputs",
        "pulumi_aws.get_availability_zones",
    ):
        assert unused not in report["modules"]


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"FORCE_COLOR": "1"},
        {"FORCE_COLOR": ""},
        {"TTY_COMPATIBLE": "1"},
        {"TTY_COMPATIBLE": "0"},
        {"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"},
    ],
)
def test_startup_terminal_check_answers_as_rich_does_off_a_terminal(env, monkeypatch):
    """The progress bar's terminal check skips importing rich only where rich would say no."""
    from redundo.cli import _app
    from redundo.cli._common import _stderr_is_terminal

    for key in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert not sys.stderr.isatty()  # pytest captures it
    _app.stderr.cache_clear()
    try:
        assert _stderr_is_terminal() == _app.stderr().is_terminal
    finally:
        _app.stderr.cache_clear()
