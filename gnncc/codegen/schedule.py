"""Schedule spaces: the knobs of each kernel family, loaded from ``schedules/<family>.json``.

A space is data so that tuners and reviewers can read it without reading templates. Per
target kind (``cpu``/``cuda``) a file gives each knob's allowed ``values`` (or an inclusive
integer ``range``), the ``default`` config, and ``constraints``: boolean expressions over
knob names (``+ - * // %``, comparisons, ``and``/``or``/``not``) that a config must satisfy.
A file may instead ``inherit`` another family's space (scatter shares spmm's template).
"""

from __future__ import annotations

import ast
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gnncc.errors import CodegenError


def _schedule_dir() -> Path:
    """``gnncc/schedules``: in an installed wheel the spaces themselves, in a checkout a link to the
    top-level ``schedules/`` folder; where a copy of the checkout dropped the link, that folder."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "schedules", package.parent / "schedules"):
        if folder.is_dir():
            return folder
    return package / "schedules"  # missing: load_space says which file it expected


SCHEDULE_DIR = _schedule_dir()
TARGET_KINDS = ("cpu", "cuda")

# the constraint grammar: integer arithmetic, comparisons and boolean logic over knob names
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


@dataclass(frozen=True)
class Knob:
    name: str
    values: tuple[Any, ...]
    doc: str = ""

    def allows(self, value: Any) -> bool:
        # bool is an int in Python: keep True from passing for 1 and vice versa
        return any(type(value) is type(v) and value == v for v in self.values)


def _check_syntax(node: ast.AST) -> None:
    """Raise ``ValueError`` unless ``node`` is integer/boolean arithmetic, comparisons and logic over names."""
    allowed = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.BinOp, ast.UnaryOp, ast.Not, ast.BoolOp,
               ast.And, ast.Or, ast.Compare, *_BINOPS, *_CMPOPS)
    for sub in ast.walk(node):
        if not isinstance(sub, allowed) or (isinstance(sub, ast.Constant) and not isinstance(sub.value, int | bool)):
            raise ValueError(f"unsupported syntax {ast.dump(sub)}")


@cache
def _compiled(expr: str) -> Any:
    """``expr`` checked once against the constraint grammar, then compiled: spaces of 10^5 points are
    filtered by it, which re-walking the AST per point made take minutes."""
    tree = ast.parse(expr, mode="eval")
    _check_syntax(tree)
    return compile(tree, f"<constraint {expr}>", "eval")


@dataclass(frozen=True)
class Constraint:
    expr: str
    doc: str

    def holds(self, config: dict[str, Any]) -> bool:
        return bool(eval(_compiled(self.expr), {"__builtins__": {}}, config))  # noqa: S307 (checked grammar)


@dataclass(frozen=True)
class Space:
    """The schedule space of one family on one target kind."""

    family: str
    kind: str
    knobs: dict[str, Knob]
    default: dict[str, Any]
    constraints: tuple[Constraint, ...]

    def validate(self, config: dict[str, Any] | None) -> dict[str, Any]:
        """``config`` merged over the default; raises ``CodegenError`` if it is not in the space."""
        merged = dict(self.default)
        for key, value in (config or {}).items():
            if key not in self.knobs:
                raise CodegenError(
                    f"{self.family} ({self.kind}): unknown schedule knob {key!r}; "
                    f"knobs are {sorted(self.knobs)}"
                )
            if not self.knobs[key].allows(value):
                raise CodegenError(
                    f"{self.family} ({self.kind}): {key}={value!r} is not allowed; "
                    f"choose one of {list(self.knobs[key].values)}"
                )
            merged[key] = value
        for c in self.constraints:
            if not c.holds(merged):
                raise CodegenError(
                    f"{self.family} ({self.kind}): config {merged} violates {c.expr!r}: {c.doc}"
                )
        return merged

    def points(self) -> Iterator[dict[str, Any]]:
        """Every valid config (the full cross product, filtered by the constraints)."""
        names = sorted(self.knobs)
        for values in itertools.product(*(self.knobs[n].values for n in names)):
            config = dict(zip(names, values))
            if all(c.holds(config) for c in self.constraints):
                yield config

    def neighbours(self) -> Iterator[dict[str, Any]]:
        """Configs that differ from the default in one knob (repaired to satisfy constraints by changing
        as few other knobs as possible; the first such repair in knob and value order)."""
        return (config for _, config in self.knob_neighbours())

    def knob_neighbours(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``neighbours()`` with the knob each one changes: ``(knob, config)``, by knob name, then in the
        order of the knob's values."""
        names = sorted(self.knobs)
        for name in names:
            others = [n for n in names if n != name]
            for value in self.knobs[name].values:
                if value == self.default[name]:
                    continue
                repaired = self._repair({**self.default, name: value}, others)
                if repaired is not None:
                    yield name, repaired

    def _repair(self, config: dict[str, Any], free: list[str]) -> dict[str, Any] | None:
        """The valid config closest to ``config`` changing only knobs in ``free`` (None if there is none)."""
        for distance in range(len(free) + 1):
            for changed in itertools.combinations(free, distance):
                choices = [[v for v in self.knobs[n].values if v != config[n]] for n in changed]
                for values in itertools.product(*choices):
                    candidate = {**config, **dict(zip(changed, values))}
                    if all(c.holds(candidate) for c in self.constraints):
                        return dict(sorted(candidate.items()))
        return None


def _load_json(family: str) -> dict[str, Any]:
    path = SCHEDULE_DIR / f"{family}.json"
    if not path.is_file():
        raise CodegenError(f"no schedule space for family {family!r} (expected {path})")
    data = json.loads(path.read_text())
    if "inherit" in data:
        return _load_json(data["inherit"])
    return data


def _knob(name: str, spec: dict[str, Any]) -> Knob:
    if "values" in spec:
        values = tuple(spec["values"])
    else:
        lo, hi = spec["range"]
        values = tuple(range(lo, hi + 1))
    return Knob(name, values, spec.get("doc", ""))


@cache
def load_space(family: str, kind: str, vector_bits: int = 0) -> Space:
    """The space of ``family`` for target kind ``cpu`` or ``cuda`` (cached).

    ``vector_bits`` (``Target.vector_bits``) selects the default: a section's
    ``defaults_by_vector_bits`` maps a register width to knobs that override the default on CPUs
    with registers at least that wide (a register tile sized for AVX2's 16 registers leaves half
    of AVX-512's 32 idle)."""
    if kind not in TARGET_KINDS:
        raise CodegenError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")
    section = _load_json(family)[kind]
    knobs = {name: _knob(name, spec) for name, spec in section["knobs"].items()}
    constraints = tuple(Constraint(c["expr"], c.get("doc", "")) for c in section.get("constraints", ()))
    default = dict(section["default"])
    for bits, overrides in sorted(section.get("defaults_by_vector_bits", {}).items(), key=lambda kv: int(kv[0])):
        if vector_bits >= int(bits):
            default.update(overrides)
    space = Space(family, kind, knobs, default, constraints)
    if set(space.default) != set(knobs):
        raise CodegenError(f"{family} ({kind}): default must set every knob {sorted(knobs)}")
    space.validate(space.default)
    return space
