"""`redundo --help` must not pay for the cloud SDKs or rich."""

from __future__ import annotations

import json
import subprocess
import sys

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
