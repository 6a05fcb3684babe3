"""Every error path as a user meets it: the installed `redundo` run as a subprocess.

Each case builds a small project (one good client stack and whatever is damaged), runs the
venv's console script, and asserts the exit code, exactly one line on stderr (none on success),
no traceback anywhere, and that nothing under the case's directory was written, created or
removed. typer's CliRunner cannot do this: it catches exceptions, so a crash looks like exit 1.

The cases run in parallel (each is its own process and directory) the first time a test needs them.
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import typer.main
from redundo.cli.main import app

from tests.cli.test_hints import mentioned, options_of
from tests.conftest import CTRL_C_AS_FROM_A_TERMINAL, SERVICE, SSH_KEY

REDUNDO = Path(sys.executable).parent / "redundo"
TIMEOUT = 120

GOOD = f"""\
# jeweller in Rouen
config:
  redundo:tier: basic
  redundo:ovhServiceName: {SERVICE}
  redundo:sshPublicKey: {SSH_KEY}
  redundo:domain: jeweller-example.fr
  redundo:dataGb: 5
"""


def good_with(*lines: str, drop: tuple[str, ...] = ()) -> str:
    """The good stack with some `redundo:` lines dropped and others appended under config:."""
    kept = [line for line in GOOD.splitlines() if not any(line.strip().startswith(d + ":") for d in drop)]
    return "\n".join(kept + [f"  {line}" for line in lines]) + "\n"


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    stderr: str = ""
    """A regular expression the one stderr line must match (cases with exit 0 have no stderr)."""
    files: dict[str, str | bytes | Callable[[Path], None]] = field(default_factory=dict)
    """Paths under the project to write (text, bytes) or make (a function of the path)."""
    cwd: str = "."
    """Where to run, relative to the case's root: "." is the project, "../outside" is not one."""
    env: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    """A regular expression stdout must contain."""
    send: int | None = None
    """A signal to send once the command has run a moment."""
    project: bool = True
    """False: the case's root has no Pulumi.yaml."""
    echoes: bool = False
    """The message quotes an option the user typed (an unknown option), not a hint."""


def directory(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def dangling(path: Path) -> None:
    path.symlink_to(path.parent / "gone.yaml")


def no_moto(path: Path) -> None:
    """A `moto` package that cannot be imported, ahead of the real one on PYTHONPATH."""
    path.mkdir(parents=True)
    (path / "__init__.py").write_text("raise ImportError('No module named moto', name='moto')\n")


def many_stacks(path: Path) -> None:
    """Two hundred valid stacks: `plan --all` works in its worker processes long enough to be
    interrupted, even now that sixty take about a second."""
    for n in range(200):
        (path / f"Pulumi.shop-{n:02d}.yaml").write_text(GOOD)


LATIN1 = GOOD.replace("# jeweller in Rouen", "# bijouterie à Rouen").encode("latin-1")
BAD = "stacks/Pulumi.bad.yaml"
UTF8_LINE = r"stacks/Pulumi\.bad\.yaml is not UTF-8 \(byte 0xe0 on line 1.*iconv -f latin1 -t utf-8"
PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
INIT = ["init", "newshop", "--domain", "newshop.fr", "--ovh-service-name", SERVICE]

CASES = [
    # -- encodings
    Case("latin1-plan", ["plan", "--stack", "bad"], 2, UTF8_LINE, {BAD: LATIN1}),
    Case(
        "latin1-ls-serves-the-others",
        ["ls", "--json"],
        1,
        r"1 of 2 stack files are invalid: bad",
        {BAD: LATIN1},
        stdout=r'"stack": "good"',
    ),
    Case(
        "latin1-plan-all-serves-the-others",
        ["plan", "--all", "--json"],
        1,
        r"^error: 1 of 2 stacks failed: " + UTF8_LINE,
        {BAD: LATIN1},
        stdout=r'"tier": "basic"',
    ),
    Case(
        "latin1-check-all-serves-the-others",
        ["check", "--all"],
        1,
        r"1 of 2 stacks failed: .*not UTF-8",
        {BAD: LATIN1},
        stdout=r"ok good",
    ),
    Case(
        "latin1-check-all-junit",
        ["check", "--all", "--format", "junit"],
        1,
        r"1 of 2 stacks failed",
        {BAD: LATIN1},
        stdout=r'<error message="stacks/Pulumi.bad.yaml is not UTF-8',
    ),
    Case("latin1-tiers", ["tiers", "--stack", "bad"], 2, UTF8_LINE, {BAD: LATIN1}),
    Case("latin1-up", ["up", "--stack", "bad", "--yes"], 2, UTF8_LINE, {BAD: LATIN1}),
    Case("latin1-failover", ["failover", "--stack", "bad", "--dry-run"], 2, UTF8_LINE, {BAD: LATIN1}),
    Case(
        "utf8-bom-is-read",
        ["tiers", "--stack", "bad", "--json"],
        0,
        files={BAD: b"\xef\xbb\xbf" + GOOD.encode()},
        stdout=r'"tiers"',
    ),
    Case("utf16", ["plan", "--stack", "bad"], 2, r"is UTF-16 text; save it as UTF-8", {BAD: GOOD.encode("utf-16")}),
    Case("binary", ["plan", "--stack", "bad"], 2, r"not UTF-8 \(byte 0xff", {BAD: b"\x7fELF\x02\x01\xff\xfe\x00\x00"}),
    Case("nul-bytes", ["plan", "--stack", "bad"], 2, r"Pulumi\.bad\.yaml is not valid YAML", {BAD: "config:\x00\n"}),
    # -- YAML shape
    Case("empty-file", ["plan", "--stack", "bad"], 2, r"has no `config:` mapping", {BAD: ""}),
    Case("only-comments", ["plan", "--stack", "bad"], 2, r"has no `config:` mapping", {BAD: "# nothing yet\n"}),
    Case(
        "unclosed-quote",
        ["plan", "--stack", "bad"],
        2,
        r"is not valid YAML at line \d",
        {BAD: 'config:\n  redundo:tier: "basic\n'},
    ),
    Case(
        "tab-indent",
        ["plan", "--stack", "bad"],
        2,
        r"is not valid YAML at line 2",
        {BAD: "config:\n\tredundo:tier: basic\n"},
    ),
    Case("top-level-list", ["plan", "--stack", "bad"], 2, r"has no `config:` mapping", {BAD: "- redundo:tier\n"}),
    Case(
        "config-is-a-list",
        ["plan", "--stack", "bad"],
        2,
        r"has no `config:` mapping",
        {BAD: "config:\n  - redundo:tier: basic\n"},
    ),
    Case("config-is-a-string", ["plan", "--stack", "bad"], 2, r"has no `config:` mapping", {BAD: "config: basic\n"}),
    Case("yaml-syntax-ls", ["ls"], 1, r"1 of 2 stack files are invalid: bad", {BAD: "config: [\n"}, stdout=r"good"),
    # -- keys
    Case(
        "duplicate-key",
        ["plan", "--stack", "bad"],
        2,
        r"sets redundo:tier twice \(lines 3 and 8\); keep one \(Pulumi rejects duplicate keys\)",
        {BAD: good_with("redundo:tier: premium")},
    ),
    Case(
        "duplicate-config",
        ["plan", "--stack", "bad"],
        2,
        r"sets config twice",
        {BAD: GOOD + "config:\n  redundo:tier: premium\n"},
    ),
    Case(
        "duplicate-key-check-all",
        ["check", "--all", "--format", "json"],
        1,
        r"sets redundo:tier twice",
        {BAD: good_with("redundo:tier: premium")},
        stdout=r'"error": "stacks/Pulumi.bad.yaml sets redundo:tier twice',
    ),
    Case(
        "unprefixed-key",
        ["plan", "--stack", "bad"],
        2,
        r"has the key 'tier' without a namespace, so it would be ignored; write it as redundo:tier",
        {BAD: good_with("tier: premium", drop=("redundo:tier",))},
    ),
    Case(
        "unprefixed-key-tiers",
        ["tiers", "--stack", "bad"],
        2,
        r"write it as redundo:dataGb",
        {BAD: good_with("dataGb: 40", drop=("redundo:dataGb",))},
    ),
    Case(
        "other-namespace-is-fine",
        ["tiers", "--stack", "bad", "--json"],
        0,
        files={BAD: good_with("aws:region: eu-west-3", "ovh:endpoint: ovh-eu")},
        stdout=r'"data_gb": 5',
    ),
    Case(
        "unknown-key",
        ["plan", "--stack", "bad"],
        2,
        r"unknown key redundo:teir; accepted keys: tier,",
        {BAD: good_with("redundo:teir: premium")},
    ),
    Case(
        "numeric-key",
        ["plan", "--stack", "bad"],
        2,
        r"config key 42 that is not a name",
        {BAD: good_with("42: premium")},
    ),
    # -- values of the wrong type or out of range
    Case(
        "tier-unknown",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:tier is 'platinum'; accepted values",
        {BAD: good_with("redundo:tier: platinum", drop=("redundo:tier",))},
    ),
    Case(
        "tier-a-list",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:tier must be a single value, not list",
        {BAD: good_with("redundo:tier: [basic]", drop=("redundo:tier",))},
    ),
    Case(
        "data-gb-words",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:dataGb is 'lots'; it must be a number",
        {BAD: good_with("redundo:dataGb: lots", drop=("redundo:dataGb",))},
    ),
    Case(
        "data-gb-negative",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:dataGb is -3",
        {BAD: good_with("redundo:dataGb: -3", drop=("redundo:dataGb",))},
    ),
    Case(
        "data-gb-nan",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:dataGb is .*nan",
        {BAD: good_with("redundo:dataGb: .nan", drop=("redundo:dataGb",))},
    ),
    Case(
        "site-paths-relative",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:sitePaths has 'www'",
        {BAD: good_with("redundo:sitePaths: [www]")},
    ),
    Case(
        "site-paths-a-map",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:sitePaths must be a non-empty list",
        {BAD: good_with("redundo:sitePaths: {a: b}")},
    ),
    Case(
        "switched-at-breaks-out-of-its-echo",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:switchedAt is '2026-12-06\$\(touch x\)'; redundo writes it at each failover and failback",
        {BAD: good_with("redundo:switchedAt: '2026-12-06$(touch x)'")},
    ),
    Case(
        "database-name-with-a-backtick",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:databaseName is 'shop`id`'; a database name is 1 to 63 letters, digits",
        {BAD: good_with("redundo:database: mysql", "redundo:databaseName: 'shop`id`'")},
    ),
    Case(
        "database-name-an-option",
        ["check", "--stack", "bad"],
        2,
        r"redundo:databaseName is '-rshop'; .* not starting with '-'",
        {BAD: good_with("redundo:database: postgresql", "redundo:databaseName: '-rshop'")},
    ),
    Case(
        "cidr-bad",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:adminCidrs has '300.1.1.1/32', not a network",
        {BAD: good_with("redundo:adminCidrs: ['300.1.1.1/32']")},
    ),
    Case(
        "domain-bad",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:domain is 'not a domain', not a valid domain",
        {BAD: good_with("redundo:domain: not a domain", drop=("redundo:domain",))},
    ),
    Case(
        "domain-public-suffix",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:domain 'co\.uk' is a public suffix",
        {BAD: good_with("redundo:domain: co.uk", drop=("redundo:domain",))},
    ),
    Case(
        "zone-mismatch",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:domain 'jeweller-example\.fr' is not inside",
        {BAD: good_with("redundo:dnsZone: other.fr")},
    ),
    Case(
        "ssh-key-garbage",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:sshPublicKey is not an OpenSSH public key",
        {BAD: good_with("redundo:sshPublicKey: hello", drop=("redundo:sshPublicKey",))},
    ),
    Case(
        "service-name-short",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:ovhServiceName is 'abc'",
        {BAD: good_with("redundo:ovhServiceName: abc", drop=("redundo:ovhServiceName",))},
    ),
    Case(
        "service-name-missing",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:ovhServiceName is missing; set it in stacks/Pulumi\.bad\.yaml",
        {BAD: good_with(drop=("redundo:ovhServiceName",))},
    ),
    Case(
        "region-unknown",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:primaryRegion is 'MARS1'",
        {BAD: good_with("redundo:primaryRegion: MARS1")},
    ),
    Case(
        "standby-flavor-wrong",
        ["plan", "--stack", "bad"],
        2,
        r"redundo:standbyFlavor is 'huge'",
        {BAD: good_with("redundo:standbyFlavor: huge")},
    ),
    # -- files that are not files
    Case(
        "stack-file-is-a-directory",
        ["plan", "--stack", "bad"],
        2,
        r"stacks/Pulumi\.bad\.yaml is a directory, not a stack file",
        {BAD: directory},
    ),
    Case(
        "stack-file-is-a-directory-ls",
        ["ls"],
        1,
        r"1 of 2 stack files are invalid: bad",
        {BAD: directory},
        stdout="good",
    ),
    Case(
        "stack-file-is-a-fifo", ["plan", "--stack", "bad"], 2, r"Pulumi\.bad\.yaml is not a regular file", {BAD: fifo}
    ),
    Case(
        "stack-file-dangling-link",
        ["plan", "--stack", "bad"],
        2,
        r"Pulumi\.bad\.yaml is a link to a missing file",
        {BAD: dangling},
    ),
    Case(
        "stacks-dir-is-a-file",
        ["plan", "--all"],
        2,
        r"no stacks in .*stacks; create one with `redundo init NAME`",
        {"stacks": "not a folder\n"},
    ),
    # -- damaged state files
    Case(
        "status-json-truncated",
        ["ls"],
        0,
        files={".redundo/status/good.json": '{"state": "OK", "chec'},
        stdout=r"damaged status file",
    ),
    Case(
        "status-json-a-list",
        ["ls", "--json"],
        0,
        files={".redundo/status/good.json": "[1, 2]"},
        stdout=r'"last_status": "damaged"',
    ),
    Case(
        "status-json-latin1",
        ["ls"],
        0,
        files={".redundo/status/good.json": b'{"state": "\xe9"}'},
        stdout=r"damaged status file",
    ),
    Case(
        "status-json-is-a-directory",
        ["ls"],
        0,
        files={".redundo/status/good.json": directory},
        stdout=r"damaged status file",
    ),
    Case(
        "status-json-odd-time",
        ["ls", "--json"],
        0,
        files={".redundo/status/good.json": '{"state": "OK", "checked_at": "yesterday"}'},
        stdout=r'"last_checked": null',
    ),
    # -- where the project is
    Case(
        "ls-outside-a-project",
        ["ls"],
        2,
        r"no redundo project in .* or above \(no Pulumi\.yaml\); cd into one, pass --project DIR, "
        r"or create one with `redundo new DIR`",
        project=False,
    ),
    Case(
        "ls-project-nonexistent", ["--project", "/nonexistent", "ls"], 2, r"--project /nonexistent is not a directory"
    ),
    Case(
        "ls-project-without-pulumi-yaml",
        ["--project", "stacks", "ls"],
        2,
        r"--project stacks has no Pulumi\.yaml, so it is not a redundo project; create one with `redundo new DIR`",
    ),
    Case(
        "env-project-nonexistent",
        ["ls"],
        2,
        r"--project /nowhere is not a directory",
        env={"REDUNDO_PROJECT": "/nowhere"},
    ),
    Case(
        "pulumi-yaml-is-a-directory",
        ["plan", "--all"],
        2,
        r"no redundo project in",
        project=False,
        files={"Pulumi.yaml": directory},
    ),
    Case(
        "init-outside-a-project", INIT, 2, r"no redundo project in .*create one with `redundo new DIR`", project=False
    ),
    Case("ls-from-a-subfolder", ["ls"], 0, cwd="stacks", stdout=r"good"),
    Case("new-in-a-non-empty-folder", ["new", "stacks"], 2, r"stacks is not empty; pass a new or empty folder"),
    Case("new-on-a-file", ["new", "Pulumi.yaml"], 2, r"Pulumi\.yaml exists and is not a folder"),
    Case("new-in-a-project", ["new", "."], 2, r"already holds a Pulumi\.yaml; add clients there with `redundo init"),
    # -- init's inputs
    Case(
        "init-ssh-key-binary",
        [*INIT, "--ssh-key", "key.bin"],
        2,
        r"cannot read an SSH public key from key\.bin .*pass --ssh-key FILE\.pub",
        {"key.bin": b"\x00\xff\xfe\x80"},
    ),
    Case("init-ssh-key-directory", [*INIT, "--ssh-key", "stacks"], 2, r"cannot read an SSH public key from stacks"),
    Case("init-ssh-key-missing", [*INIT, "--ssh-key", "nope.pub"], 2, r"cannot read an SSH public key from nope\.pub"),
    Case(
        "init-ssh-key-empty", [*INIT, "--ssh-key", "empty.pub"], 2, r"cannot read an SSH public key", {"empty.pub": ""}
    ),
    Case(
        "init-ssh-key-private",
        [*INIT, "--ssh-key", "id"],
        2,
        r"redundo:sshPublicKey is not an OpenSSH public key",
        {"id": PRIVATE_KEY},
    ),
    Case(
        "init-bad-name",
        ["init", "Bad_Name", "--domain", "x.fr", "--ovh-service-name", SERVICE],
        2,
        r"invalid client name 'Bad_Name'",
    ),
    Case(
        "init-exists",
        ["init", "good", "--domain", "x.fr", "--ovh-service-name", SERVICE],
        1,
        r"stacks/Pulumi\.good\.yaml exists; pass --force to overwrite it",
    ),
    Case("init-tier-and-budget", [*INIT, "--tier", "basic", "--budget", "5"], 2, r"--tier and --budget exclude"),
    Case(
        "init-budget-words", [*INIT, "--budget", "cheap"], 2, r"Invalid value for '--budget'.*see `redundo init --help`"
    ),
    Case(
        "init-budget-too-small",
        [*INIT, "--budget", "0.01", "--ssh-key", "k.pub"],
        1,
        r"no tier fits €0\.01/month of redundancy",
        {"k.pub": SSH_KEY + "\n"},
    ),
    Case("init-no-domain", ["init", "x", "--ovh-service-name", SERVICE], 2, r"Missing option '--domain'"),
    Case(
        "init-domain-bad",
        ["init", "x", "--domain", "no spaces.fr", "--ovh-service-name", SERVICE, "--ssh-key", "k.pub"],
        2,
        r"redundo:domain is 'no spaces\.fr'",
        {"k.pub": SSH_KEY},
    ),
    Case("init-no-service", ["init", "x", "--domain", "x.fr"], 2, r"pass --ovh-service-name"),
    # -- bad option values, per command
    Case("plan-tier-unknown", ["plan", "--tier", "gold"], 2, r"unknown tier 'gold'|'gold'"),
    Case("plan-stack-and-all", ["plan", "--stack", "good", "--all"], 2, r"--stack and --all exclude each other"),
    Case(
        "plan-needs-a-stack", ["plan"], 2, r"there are 2 stacks \(bad, good\); pass --stack NAME or --all$", {BAD: GOOD}
    ),
    Case("report-needs-a-stack", ["report"], 2, r"there are 2 stacks \(bad, good\); pass --stack NAME$", {BAD: GOOD}),
    Case("up-needs-a-stack", ["up", "--yes"], 2, r"there are 2 stacks \(bad, good\); pass --stack NAME$", {BAD: GOOD}),
    Case("plan-stack-path", ["plan", "--stack", "../../etc/passwd"], 2, r"invalid stack name"),
    Case(
        "plan-stack-unknown",
        ["plan", "--stack", "nope"],
        2,
        r"unknown stack 'nope' \(no Pulumi\.nope\.yaml in stacks/\); known stacks: good",
    ),
    Case("check-format-unknown", ["check", "--format", "xml"], 2, r"--format 'xml' is not one of"),
    Case("report-format-unknown", ["report", "--format", "docx"], 2, r"--format"),
    Case("report-lang-unknown", ["report", "--lang", "de"], 2, r"--lang 'de' is not one of"),
    Case("report-pdf-to-stdout", ["report", "--format", "pdf"], 2, r"--format pdf writes a file; pass --output"),
    Case(
        "report-drill-json-damaged",
        ["report", "--stack", "good"],
        2,
        r"\.redundo/drills/good\.json is damaged; run `redundo drill --stack good` again",
        {".redundo/drills/good.json": '{"passed": tr'},
    ),
    Case(
        "report-drill-json-a-string",
        ["report", "--stack", "good"],
        2,
        r"good\.json is damaged",
        {".redundo/drills/good.json": '"ok"'},
    ),
    Case("tiers-budget-negative", ["tiers", "--budget", "-1"], 2, r"budget -1 is not a positive amount"),
    Case("tiers-data-gb-zero", ["tiers", "--data-gb", "0"], 2, r"--data-gb is 0"),
    Case("drill-neither", ["drill"], 2, r"pass either --local or --stack NAME"),
    Case("drill-size-zero", ["drill", "--local", "--size", "0"], 2, r"--size must be more than 0"),
    Case("drill-stack-with-tier", ["drill", "--stack", "good", "--tier", "basic"], 2, r"--tier goes with --local"),
    Case(
        "drill-local-without-the-extra",
        ["drill", "--local"],
        1,
        r"install it with `pip install 'redundo\[local\]'`$",
        {"shadow/moto": no_moto},
        env={"PYTHONPATH": "{root}/project/shadow"},
    ),
    Case(
        "vault-since-words", ["vault", "undelete", "--since", "yesterday"], 2, r"--since 'yesterday' is not an ISO time"
    ),
    Case("vault-bucket-alone", ["vault", "undelete", "--bucket", "b"], 2, r"--bucket and --endpoint go together"),
    Case(
        "up-no-pulumi-cli",
        ["up", "--stack", "good", "--yes"],
        1,
        r"the pulumi CLI is not on PATH \(install it with .* or pass --install-pulumi\)",
    ),
    Case(
        "status-no-pulumi-cli",
        ["status", "--stack", "good"],
        1,
        r"the pulumi CLI is not on PATH \(install it with `curl -fsSL https://get\.pulumi\.com \| sh`\)$",
    ),
    Case("up-backend-ftp", ["up", "--stack", "good", "--backend", "ftp://x"], 1, r"not a state backend URL"),
    Case("unknown-command", ["deploy"], 2, r"No such command 'deploy'"),
    Case("unknown-option", ["ls", "--colour"], 2, r"No such option: --colour", echoes=True),
    Case(
        "output-encoding-ascii",
        ["tiers"],
        1,
        r"the output's encoding \(ascii\) cannot show '.+'; set LANG=C\.UTF-8",
        env={"PYTHONIOENCODING": "ascii"},
    ),
    # -- signals
    Case(
        "sigint-during-plan-all",
        ["plan", "--all", "--json"],
        130,
        r"^error: interrupted \(Ctrl-C\)",
        {"stacks": many_stacks},
        send=signal.SIGINT,
    ),
    Case(
        "sigterm-during-plan-all",
        ["plan", "--all", "--json"],
        143,
        r"^error: terminated \(SIGTERM\)",
        {"stacks": many_stacks},
        send=signal.SIGTERM,
    ),
]


def _make(project: Path, files: dict[str, str | bytes | Callable[[Path], None]]) -> None:
    for relative, content in files.items():
        path = project / relative
        if relative == "stacks" and not callable(content):
            import shutil

            shutil.rmtree(path)  # stacks/ replaced by a file
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every path under root with its type, size, mode and (for files) a hash of its bytes."""
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            digest = ""
            if stat.S_ISREG(st.st_mode):
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            seen[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mode, digest)
    return seen


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    before: dict
    after: dict
    seconds: float


def run_case(case: Case, base: Path) -> Outcome:
    root = base / case.id
    project = root / "project"
    (root / "home").mkdir(parents=True)
    (root / "outside").mkdir()
    project.mkdir()
    if case.project:
        (project / "Pulumi.yaml").write_text("name: redundo\nruntime: python\nmain: program/\nstackConfigDir: stacks\n")
    (project / "stacks").mkdir()
    (project / "stacks" / "Pulumi.good.yaml").write_text(GOOD)
    _make(project, case.files)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "OVH_", "PULUMI_", "REDUNDO_", "PYTEST", "COV_"))
    }
    env.update(HOME=str(root / "home"), PATH=f"{REDUNDO.parent}:/usr/bin:/bin", COLUMNS="200")
    env.update({k: v.format(root=root) for k, v in case.env.items()})
    before = snapshot(root)
    started = time.monotonic()
    prefix = CTRL_C_AS_FROM_A_TERMINAL if case.send == signal.SIGINT else []
    process = subprocess.Popen(
        [*prefix, str(REDUNDO), *case.args],
        cwd=project / case.cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    if case.send is not None:
        # Mid-work for sure: the worker processes of `plan --all` have been forked.
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children")
        deadline = time.monotonic() + TIMEOUT / 2
        while process.poll() is None and time.monotonic() < deadline and not children.read_text().strip():
            time.sleep(0.05)
        process.send_signal(case.send)
    try:
        out, err = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return Outcome(
        process.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        before,
        snapshot(root),
        time.monotonic() - started,
    )


def invoked(args: list[str]):
    """The typer command `args` runs, or None when there is none (an unknown command)."""
    group = typer.main.get_command(app)
    words = iter(args)
    for word in words:
        if word == "--project":
            next(words, None)
        elif not word.startswith("-"):
            command = group.commands.get(word)
            if command is None or not hasattr(command, "commands"):
                return command
            group = command
    return None


@pytest.fixture(scope="module")
def outcomes():
    assert REDUNDO.is_file(), f"the console script is not installed at {REDUNDO}; run pip install -e ."
    with tempfile.TemporaryDirectory(prefix="redundo-errors-") as tmp:
        base = Path(tmp)
        with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 2) * 2)) as pool:
            futures = {case.id: pool.submit(run_case, case, base) for case in CASES}
            yield {name: future.result() for name, future in futures.items()}


def test_the_corpus_is_large_and_named_uniquely():
    """At least 60 bad inputs, each with its own id."""
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_errors_one_line_no_traceback_nothing_written(case: Case, outcomes):
    outcome = outcomes[case.id]
    assert "Traceback" not in outcome.stderr + outcome.stdout
    lines = outcome.stderr.splitlines()
    assert outcome.code == case.code, outcome.stderr
    if case.code == 0:
        assert lines == [], outcome.stderr
    else:
        assert len(lines) == 1, outcome.stderr
        assert lines[0].startswith("error: "), lines[0]
        assert re.search(case.stderr, lines[0]), lines[0]
        command = invoked(case.args)
        if command is not None and not case.echoes:  # a hint names only options this command takes
            assert mentioned(lines[0]) <= options_of(command), lines[0]
    if case.stdout:
        assert re.search(case.stdout, outcome.stdout), outcome.stdout[-2000:]
    assert outcome.after == outcome.before, "the command wrote, created or removed files"
