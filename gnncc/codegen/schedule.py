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
import operator
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from gnncc.errors import CodegenError

SCHEDULE_DIR = Path(__file__).resolve().parents[2] / "schedules"
TARGET_KINDS = ("cpu", "cuda")

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt,
    ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
}


def _eval(node: ast.AST, env: dict[str, Any]) -> Any:
    """Evaluate a constraint expression; only arithmetic, comparisons and boolean logic."""
    if isinstance(node, ast.Expression):
        return _eval(node.body, env)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | bool):
        return node.value
    if isinstance(node, ast.Name):
        return env[node.id]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return _BINOPS[type(node.op)](_eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, env)
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, env) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env)
            if type(op) not in _CMPOPS or not _CMPOPS[type(op)](left, right):
                return False
            left = right
        return True
    raise ValueError(f"unsupported syntax {ast.dump(node)}")


@dataclass(frozen=True)
class Knob:
    name: str
    values: tuple[Any, ...]
    doc: str = ""

    def allows(self, value: Any) -> bool:
        # bool is an int in Python: keep True from passing for 1 and vice versa
        return any(type(value) is type(v) and value == v for v in self.values)


@dataclass(frozen=True)
class Constraint:
    expr: str
    doc: str

    def holds(self, config: dict[str, Any]) -> bool:
        return bool(_eval(ast.parse(self.expr, mode="eval"), config))


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
        """Configs that differ from the default in one knob (repaired to satisfy constraints)."""
        for name, knob in sorted(self.knobs.items()):
            for value in knob.values:
                if value == self.default[name]:
                    continue
                candidates = [p for p in self.points() if p[name] == value]
                if candidates:
                    yield min(candidates, key=lambda p: sum(p[k] != self.default[k] for k in p))


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
def load_space(family: str, kind: str) -> Space:
    """The space of ``family`` for target kind ``cpu`` or ``cuda`` (cached)."""
    if kind not in TARGET_KINDS:
        raise CodegenError(f"unknown target kind {kind!r}; expected one of {TARGET_KINDS}")
    section = _load_json(family)[kind]
    knobs = {name: _knob(name, spec) for name, spec in section["knobs"].items()}
    constraints = tuple(Constraint(c["expr"], c.get("doc", "")) for c in section.get("constraints", ()))
    space = Space(family, kind, knobs, dict(section["default"]), constraints)
    if set(space.default) != set(knobs):
        raise CodegenError(f"{family} ({kind}): default must set every knob {sorted(knobs)}")
    space.validate(space.default)
    return space
