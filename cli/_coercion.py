"""typer's option coercion, without importing pydantic for values that need no conversion.

typer (0.29) coerces every option value through a pydantic TypeAdapter built on first use, so any
command given a string option, or left with a None default, imports pydantic: about 40 ms of
`redundo plan`'s start-up. A None stays None before any adapter runs, and a string for a `str`
option comes out of typer's string adapter unchanged; those two take no adapter here. Every other
value (numbers, paths, choices, bytes) is coerced by typer's own runtime parameter, built on first
use as typer builds it, so its conversions and error messages stay typer's.

`install()` leaves typer alone if its internals are not the ones this was written against; the
start-up tests then show pydantic back in the module set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["install"]


def install() -> None:
    try:
        from typer import _coercion, core
    except ImportError:
        return
    parameter = getattr(core, "_TyperParameter", None)
    needed = ("RuntimeParam", "TypeDescriptor", "build_runtime_param")
    if (
        parameter is None
        or not hasattr(parameter, "get_runtime_param")
        or not all(hasattr(_coercion, name) for name in needed)
    ):
        return
    if getattr(parameter.get_runtime_param, "_redundo", False):
        return

    @dataclass(frozen=True)
    class Deferred(_coercion.RuntimeParam):
        """typer's runtime parameter, built only for a value that needs converting."""

        descriptor: Any = None
        built: list = field(default_factory=list)

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            desc = self.descriptor
            if (
                isinstance(value, str)
                and desc.annotation is str
                and desc.file_annotation is None
                and desc.parameter_info.parser is None
            ):
                return value
            if not self.built:
                self.built.append(_coercion.build_runtime_param(desc))
            return self.built[0]._coerce_value(value, param=param, ctx=ctx)

    def get_runtime_param(self: Any) -> Any:
        if self._runtime_param is None:
            desc = self.type_descriptor
            self._runtime_param = Deferred(
                parameter_info=desc.parameter_info, annotation=desc.annotation, descriptor=desc
            )
        return self._runtime_param

    get_runtime_param._redundo = True  # type: ignore[attr-defined]
    parameter.get_runtime_param = get_runtime_param
