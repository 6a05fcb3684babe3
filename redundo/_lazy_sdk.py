"""Load a cloud SDK one resource module at a time, as the program touches it.

`aws.s3.Bucket` normally executes `pulumi_aws/s3/__init__.py`, which imports every one of the 70
resource modules of s3 to export their names; the stack program uses 8 of them. The sub-packages
listed in SLIM are replaced by a module with the same spec and `__path__` whose first lookup of a
name imports only the module that defines it (`BucketVersioning` from `bucket_versioning`,
`get_flavors_output` from `get_flavors`). A name it cannot place runs the real `__init__` into
the same module object, so every lookup returns what a plain import would have returned, only
sooner. These `__init__` files hold nothing but imports (a test holds that across SDK upgrades).

The top-level packages in TOP load the same way: `import pulumi_ovh` alone runs 158 resource
modules and the package's input and output types (a third of importing both SDKs), for a program
that uses its Provider. Their `__init__` holds, besides those imports, the sub-packages bound as
lazy imports and one `_utilities.register(...)` call that declares the provider's resource
modules to the runtime; the slim package performs exactly those (a test holds the structure and
the registrations equal to a plain import's).
"""

from __future__ import annotations

import builtins
import importlib
import importlib.machinery
import importlib.util
import re
import sys
import types
import typing
from contextlib import suppress
from typing import Any

__all__ = ["SLIM", "TOP", "install"]

TOP = ("pulumi_aws", "pulumi_ovh")
"""The SDKs whose top-level package loads slim (install() must run before they are imported)."""

SLIM = (
    "pulumi_aws.s3",
    "pulumi_aws.iam",
    "pulumi_aws.lightsail",
    "pulumi_ovh.cloudproject",
    "pulumi_ovh.domain",
    "pulumi_ovh.iam",
    "pulumi_ovh.me",
)
"""The sub-packages the stack program uses a few resources of."""

_UPPER_RUN = re.compile(r"([A-Z]+)([A-Z][a-z])")
_WORD = re.compile(r"([a-z0-9])([A-Z])")


def _module_of(name: str) -> str:
    """The generated module that most likely defines `name`, by the SDK generator's naming rule."""
    if name[:1].islower():
        return name.removesuffix("_output")
    name = name.removeprefix("Awaitable")
    name = name.removesuffix("InitArgs") if name.endswith("InitArgs") else name.removesuffix("Args")
    if name.startswith("Get") and name.endswith("Result"):
        name = name.removesuffix("Result")
    return _WORD.sub(r"\1_\2", _UPPER_RUN.sub(r"\1_\2", name)).lower()


def _full_init(module: types.ModuleType) -> None:
    """Run the package's real __init__ into `module`: the fallback that gives every name.

    A top-level package's __init__ also registers the provider's resource modules, which must
    happen once: its fallback imports every module its __init__ star-imports instead."""
    lazy = module.__dict__.pop("__getattr__", None)
    if "." not in module.__name__:
        for each in getattr(lazy, "star_imported", ()):
            lazy.export(each)
        return
    spec = module.__spec__
    if spec is None or spec.loader is None:  # every lazy stub is made from a spec with a loader
        raise ImportError(f"{module.__name__} has no loader to run its __init__ with")
    spec.loader.exec_module(module)


_STAR_IMPORT = re.compile(r"^from \.(\w+) import \*$", re.MULTILINE)
_ALL = re.compile(r"^__all__ = \[(.*?)\]", re.MULTILINE | re.DOTALL)


def _exports_index(directory: str, modules: list[str]) -> dict[str, str]:
    """name -> the module that binds it last among `modules`, read from their `__all__` lines."""
    index: dict[str, str] = {}
    for module in modules:
        with open(f"{directory}/{module}.py", encoding="utf-8") as source:
            found = _ALL.search(source.read())
        for name in re.findall(r"[\'\"](\w+)[\'\"]", found.group(1)) if found else ():
            index[name] = module
    return index


def _lazy_package(fullname: str, search_path: list[str] | None) -> tuple[types.ModuleType, str] | None:
    """A module for package `fullname` whose names load on first lookup, and its __init__'s text."""
    # A fresh spec with the plain source loader (the parent's lazy stub holds a lazy loader).
    spec = importlib.machinery.PathFinder.find_spec(fullname, search_path)
    if spec is None or spec.submodule_search_locations is None or spec.loader is None or spec.origin is None:
        return None
    directory = spec.submodule_search_locations[0]
    with open(spec.origin, encoding="utf-8") as init:
        source = init.read()
    # The modules whose names the real __init__ re-exports. `outputs` is not one of them: it
    # holds output types that share names with resources (s3's BucketVersioning).
    star_imported = _STAR_IMPORT.findall(source)
    exporting = frozenset(star_imported)
    module = importlib.util.module_from_spec(spec)
    index: dict[str, str] = {}

    def export(candidate: str) -> list[str]:
        submodule = importlib.import_module(f"{fullname}.{candidate}")
        names = list(getattr(submodule, "__all__", ()))
        # What the real __init__'s `from .candidate import *` binds, such as the function
        # get_flavors in place of the module get_flavors.
        for each in names:
            setattr(module, each, getattr(submodule, each))
        return names

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        loading = sys.modules.get(f"{fullname}.{name}")
        if loading is not None:  # a submodule being imported asks for itself: `from . import outputs`
            return loading
        # The defining module by the generator's naming rule, else the shared input and enum types.
        for candidate in (_module_of(name), "_inputs", "_enums"):
            if candidate in exporting and name in export(candidate):
                return module.__dict__[name]
        # A name off the naming rule (GetFloatingIPsResult): look it up in the modules' __all__.
        if not index:
            index.update(_exports_index(directory, star_imported))
        if name in index and name in export(index[name]):
            return module.__dict__[name]
        with suppress(ModuleNotFoundError):
            return importlib.import_module(f"{fullname}.{name}")  # a submodule such as `outputs`
        _full_init(module)
        return getattr(module, name)

    __getattr__.star_imported, __getattr__.export = star_imported, export  # type: ignore[attr-defined]
    module.__dict__["__getattr__"] = __getattr__  # the module's own __getattr__ (PEP 562)
    return module, source


_LAZY_SUBPACKAGE = re.compile(r"^    (\w+) = _utilities\.lazy_import\('([\w.]+)'\)$", re.MULTILINE)
_REGISTER = re.compile(
    r'^_utilities\.register\(\s*resource_modules="""(.*?)""",\s*resource_packages="""(.*?)"""\s*\)$',
    re.MULTILINE | re.DOTALL,
)


def _slim_top_level(fullname: str) -> None:
    """Put a slim `fullname` in sys.modules: what its __init__ does, less the star imports."""
    found = _lazy_package(fullname, None)
    if found is None:
        return
    module, source = found
    register = _REGISTER.search(source)
    if register is None:  # not the layout this was written for: the plain import it is
        return
    sys.modules[fullname] = module
    try:
        utilities = importlib.import_module(f"{fullname}._utilities")
        module.__dict__.update(_builtins=builtins, typing=typing, _utilities=utilities)
        for name, target in _LAZY_SUBPACKAGE.findall(source):
            setattr(module, name, utilities.lazy_import(target))
        utilities.register(resource_modules=register.group(1), resource_packages=register.group(2))
    except BaseException:
        del sys.modules[fullname]
        raise


def install(packages: tuple[str, ...] = SLIM, top: tuple[str, ...] = TOP) -> None:
    """Make each of `top` and `packages` load its resource modules on first use (idempotent).

    A package that is already loaded, or whose parent does not import it lazily, is left alone."""
    for fullname in top:
        if fullname not in sys.modules:
            _slim_top_level(fullname)
    for fullname in packages:
        parent_name, _, child = fullname.rpartition(".")
        parent = importlib.import_module(parent_name)
        current = sys.modules.get(fullname)
        # type(), not isinstance(): any attribute lookup on a lazy stub, __class__ included, loads it.
        if current is not None and type(current).__name__ != "_LazyModule":
            continue  # already executed (or already slim): nothing to gain, nothing to replace
        found = _lazy_package(fullname, list(parent.__path__))
        if found is None:
            continue
        module = found[0]
        sys.modules[fullname] = module
        setattr(parent, child, module)
