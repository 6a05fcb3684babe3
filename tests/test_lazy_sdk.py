"""The SDK packages that load lazily give exactly what a plain import gives."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from redundo import _lazy_sdk

# Each process prints {package: {name: description}} for every name the real __init__ binds.
DESCRIBE = """
import importlib, json, re, sys
from pathlib import Path

def describe(value):
    if issubclass(type(value), type(sys)):  # a module, maybe a lazy stub: name it without loading it
        return ["module", object.__getattribute__(value, "__dict__")["__name__"]]
    return [type(value).__name__, getattr(value, "__module__", None), getattr(value, "__qualname__", repr(value))]

lazy = sys.argv[1] == "lazy"
fallbacks = []
if lazy:
    from redundo import _lazy_sdk
    real_full_init = _lazy_sdk._full_init
    _lazy_sdk._full_init = lambda module: (fallbacks.append(module.__name__), real_full_init(module))
    _lazy_sdk.install()
names = json.loads(sys.argv[2]) if lazy else None
found = {}
for fullname in __PACKAGES__:
    package = importlib.import_module(fullname)
    if lazy:
        wanted = sorted(names[fullname])
    else:
        package.outputs  # runs the real __init__ (the parent binds a lazy stub)
        init = Path(package.__file__).read_text()
        wanted = ["outputs"] + re.findall(r"^    (\\w+) = _utilities\\.lazy_import", init, re.MULTILINE)
        for module in re.findall(r"^from \\.(\\w+) import \\*$", init, re.MULTILINE):
            wanted += importlib.import_module(f"{fullname}.{module}").__all__
    found[fullname] = {name: describe(getattr(package, name)) for name in wanted}
from pulumi.runtime import rpc
registered = {
    "modules": sorted([key, type(m).__module__, json.dumps(getattr(m, "mod_info", None), sort_keys=True)]
                      for key, ms in rpc._RESOURCE_MODULES.items() for m in ms),
    "packages": sorted([key, type(p).__module__, json.dumps(getattr(p, "pkg_info", None), sort_keys=True)]
                       for key, ps in rpc._RESOURCE_PACKAGES.items() for p in ps),
}
print(json.dumps({"found": found, "fallbacks": fallbacks, "registered": registered}))
""".replace("__PACKAGES__", repr(_lazy_sdk.TOP + _lazy_sdk.SLIM))


def _describe(mode: str, names: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", DESCRIBE, mode, json.dumps(names or {})], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("fullname", _lazy_sdk.SLIM)
def test_lazy_sdk_package_init_holds_only_imports(fullname):
    """Skipping a sub-package's __init__ may only defer imports, never lose other work."""
    parent, _, child = fullname.partition(".")
    init = Path(importlib.util.find_spec(parent).submodule_search_locations[0]) / child / "__init__.py"
    statements = ast.parse(init.read_text()).body
    assert statements, f"{init} is empty"
    assert all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in statements), (
        f"{init} does more than import: the lazy loading in redundo/_lazy_sdk.py would skip it"
    )


@pytest.mark.parametrize("fullname", _lazy_sdk.TOP)
def test_lazy_sdk_top_level_init_holds_only_imports_lazy_subpackages_and_one_registration(fullname):
    """The slim top-level package performs what its __init__ does besides the star imports: the
    sub-packages bound as lazy imports and the one registration of the provider's resource modules."""
    init = Path(importlib.util.find_spec(fullname).origin)
    statements = ast.parse(init.read_text()).body
    registrations = []
    for s in statements:
        if isinstance(s, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(s, ast.If) and ast.unparse(s.test) == "typing.TYPE_CHECKING":
            assert all(
                isinstance(e, ast.Assign) and ast.unparse(e.value).startswith("_utilities.lazy_import(")
                for e in s.orelse
            ), f"{init}: the non-typing branch does more than bind lazy sub-packages"
            continue
        assert isinstance(s, ast.Expr) and ast.unparse(s.value.func) == "_utilities.register", (
            f"{init} line {s.lineno} does more than import, bind sub-packages or register: the slim load would skip it"
        )
        assert [k.arg for k in s.value.keywords] == ["resource_modules", "resource_packages"]
        registrations.append(s)
    assert len(registrations) == 1


def test_lazy_sdk_resolves_every_name_and_registers_as_a_plain_import_does():
    plain = _describe("plain")
    real = plain["found"]
    lazy = _describe("lazy", {pkg: list(names) for pkg, names in real.items()})
    assert lazy["registered"] == plain["registered"], "the slim packages registered other resource modules"
    assert len(plain["registered"]["modules"]) > 1000 and plain["registered"]["packages"]
    assert lazy["fallbacks"] == [], "names the lazy loading could not place ran the full __init__"
    for fullname, names in real.items():
        differ = sorted(n for n in names if lazy["found"][fullname][n] != names[n])
        assert not differ, f"{fullname}: {differ[:5]} resolve to other objects when loaded lazily"
        assert len(names) > 10, f"{fullname} exported only {sorted(names)}"
