"""Where a compiled model's time goes: each kernel of a call timed on its own."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KernelTime:
    """One step of a call: the IR op, its kernel, the output shape and the median ms of the kernel alone."""

    op: str
    kernel: str
    shape: tuple[int, ...]
    ms: float


@dataclass(frozen=True)
class Profile:
    """Every kernel of a call in execution order, and a whole call's median ms. ``call_ms`` exceeds
    the kernels' sum by the Python work between them (and, timed alone, kernels find more of their
    operands in cache than within a call)."""

    steps: tuple[KernelTime, ...]
    call_ms: float

    @property
    def kernels_ms(self) -> float:
        return sum(s.ms for s in self.steps)

    def as_dict(self) -> dict[str, object]:
        """The JSON form (``gnncc bench --model --profile`` writes it); ``from_dict`` reads it back."""
        steps = [{"op": s.op, "kernel": s.kernel, "shape": list(s.shape), "ms": s.ms} for s in self.steps]
        return {"steps": steps, "call_ms": self.call_ms}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Profile:
        steps = tuple(KernelTime(s["op"], s["kernel"], tuple(s["shape"]), s["ms"]) for s in data["steps"])
        return cls(steps, data["call_ms"])

    def __str__(self) -> str:
        total = self.kernels_ms or 1.0
        width = max([len(s.kernel) for s in self.steps] + [6])
        lines = [f"{'#':>3}  {'op':<14} {'kernel':<{width}} {'output':<18} {'ms':>9} {'share':>6}"]
        for i, s in enumerate(self.steps):
            shape = "x".join(map(str, s.shape))
            lines.append(f"{i:>3}  {s.op:<14} {s.kernel:<{width}} {shape:<18} {s.ms:>9.3f} {s.ms / total:>6.1%}")
        lines.append(f"kernels {self.kernels_ms:.3f} ms; a whole call {self.call_ms:.3f} ms")
        return "\n".join(lines)
