"""Tables mapping torch functions, Tensor methods and ``torch.nn`` modules to IR ops.

A function or method handler is called as ``handler(ctx, *args, **kwargs)``, a module handler
as ``handler(ctx, module, qualname, *args, **kwargs)``, with the fx arguments already lowered
to IR ``Value``s, ``Param``s (model constants) or plain Python values. Handler signatures
mirror torch's, so positional and keyword calls bind alike.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import JumpingKnowledge
from torch_geometric.nn.dense.linear import Linear as PygLinear

from gnncc.errors import UnsupportedError
from gnncc.frontend.pyg.convs import CONVS
from gnncc.frontend.pyg.values import Param, qualify
from gnncc.ir.function import Value

if TYPE_CHECKING:
    from gnncc.frontend.pyg.context import LoweringContext

Handler = Callable[..., Any]


def _is_tensor(v: Any) -> bool:
    return isinstance(v, (Value, Param))


def _last_dim(what: str, x: Value, dim: Any) -> None:
    rank = x.type.rank
    if not isinstance(dim, int) or not -rank <= dim < rank or dim % rank != rank - 1:
        raise UnsupportedError(
            f"{what} over dim={dim!r} of a rank-{rank} tensor is not supported; only the last "
            "dimension (dim=-1) is"
        )


# --- elementwise: activations and eval-mode identities ------------------------

def _no_attrs(inplace: bool = False) -> dict[str, Any]:
    return {}


def _leaky_relu_attrs(negative_slope: float = 0.01, inplace: bool = False) -> dict[str, Any]:
    return {"alpha": float(negative_slope)}


def _elu_attrs(alpha: float = 1.0, inplace: bool = False) -> dict[str, Any]:
    return {"alpha": float(alpha)}


def _gelu_attrs(approximate: str = "none") -> dict[str, Any]:
    if approximate != "none":
        raise UnsupportedError(f"gelu(approximate={approximate!r}) is not supported; only the exact erf form")
    return {}


def _softplus_attrs(beta: float = 1.0, threshold: float = 20.0) -> dict[str, Any]:
    if beta != 1 or threshold != 20:
        raise UnsupportedError(
            f"softplus(beta={beta}, threshold={threshold}) is not supported; only beta=1, threshold=20"
        )
    return {}


def _unary(op: str, attrs: Callable[..., dict[str, Any]] = _no_attrs) -> Handler:
    def handler(ctx: LoweringContext, x: Any, *args: Any, **kwargs: Any) -> Value:
        return ctx.emit(op, [ctx.tensor(x)], **attrs(*args, **kwargs))

    return handler


def _module_unary(op: str, attrs: Callable[[nn.Module], dict[str, Any]] = lambda m: {}) -> Handler:
    return lambda ctx, m, q, x: ctx.emit(op, [ctx.tensor(x)], **attrs(m))


def _dropout(ctx: LoweringContext, x: Any, p: float = 0.5, training: bool = True,
             inplace: bool = False) -> Value:
    if training and p > 0:
        raise UnsupportedError(
            f"dropout(p={p}, training=True) is random even in eval mode; pass training=self.training "
            "(gnncc compiles eval-mode semantics, where dropout is the identity)"
        )
    return ctx.tensor(x)


def _identity(ctx: LoweringContext, x: Any, *args: Any, **kwargs: Any) -> Value:
    return ctx.tensor(x)


_POWERS = {2: "square", 0.5: "sqrt"}


def _power(ctx: LoweringContext, x: Any, exponent: Any) -> Value:
    """``x ** exponent`` for the exponents with an op of their own (a variance's ``x ** 2``, a norm's ``** 0.5``)."""
    if isinstance(exponent, (int, float)) and exponent == 1:
        return ctx.tensor(x)
    if not isinstance(exponent, (int, float)) or exponent not in _POWERS:
        raise UnsupportedError(f"x ** {exponent!r} is not supported; only the powers {sorted(_POWERS)} and 1 "
                               "(write other powers as products)")
    return ctx.emit(_POWERS[exponent], [ctx.tensor(x)])


# Width-preserving calls: also followed when inferring the input width from the first layer.
ELEMENTWISE_FUNCTIONS: dict[Any, Handler] = {
    F.relu: _unary("relu"), torch.relu: _unary("relu"), torch.relu_: _unary("relu"),
    F.leaky_relu: _unary("leaky_relu", _leaky_relu_attrs),
    F.elu: _unary("elu", _elu_attrs),
    F.gelu: _unary("gelu", _gelu_attrs),
    F.silu: _unary("silu"),
    F.softplus: _unary("softplus", _softplus_attrs),
    torch.sigmoid: _unary("sigmoid"), F.sigmoid: _unary("sigmoid"),
    torch.tanh: _unary("tanh"), F.tanh: _unary("tanh"),
    torch.exp: _unary("exp"), torch.log: _unary("log"), torch.abs: _unary("abs"),
    torch.neg: _unary("neg"), operator.neg: _unary("neg"),
    torch.sqrt: _unary("sqrt"), torch.square: _unary("square"),
    operator.pow: _power, torch.pow: _power,
    F.dropout: _dropout, torch.dropout: _dropout,
}
ELEMENTWISE_METHODS: dict[str, Handler] = {
    **{name: _unary(name) for name in ("relu", "sigmoid", "tanh", "exp", "log", "abs", "neg", "sqrt", "square")},
    "pow": _power,
    "relu_": _unary("relu"),
    "contiguous": _identity,
}
ELEMENTWISE_MODULES: dict[type, Handler] = {
    nn.ReLU: _module_unary("relu"),
    nn.LeakyReLU: _module_unary("leaky_relu", lambda m: {"alpha": float(m.negative_slope)}),
    nn.ELU: _module_unary("elu", lambda m: {"alpha": float(m.alpha)}),
    nn.GELU: _module_unary("gelu", lambda m: _gelu_attrs(m.approximate)),
    nn.SiLU: _module_unary("silu"),
    nn.Softplus: _module_unary("softplus", lambda m: _softplus_attrs(m.beta, m.threshold)),
    nn.Sigmoid: _module_unary("sigmoid"),
    nn.Tanh: _module_unary("tanh"),
    nn.Dropout: lambda ctx, m, q, x: ctx.tensor(x),  # eval mode
    nn.Identity: lambda ctx, m, q, x, *args, **kwargs: ctx.tensor(x),
}


# --- binary arithmetic --------------------------------------------------------

def _binary(op: str, python_op: Callable[[Any, Any], Any]) -> Handler:
    def handler(ctx: LoweringContext, a: Any, b: Any, *, alpha: float = 1,
                rounding_mode: str | None = None) -> Any:
        if not _is_tensor(a) and not _is_tensor(b):  # Python containers, e.g. ``outs + [h]``
            return python_op(a, b)
        if rounding_mode is not None:
            raise UnsupportedError(f"{op}(rounding_mode={rounding_mode!r}) is not supported")
        lhs, rhs = ctx.tensor(a), ctx.tensor(b)
        if alpha != 1:
            rhs = ctx.emit("mul", [rhs, ctx.scalar(alpha)])
        return ctx.emit(op, [lhs, rhs])

    return handler


_BINARY: dict[str, tuple[Callable[[Any, Any], Any], list[Any], list[str]]] = {
    # IR op: (Python operator, torch functions, Tensor methods)
    "add": (operator.add, [operator.add, operator.iadd, torch.add], ["add", "add_"]),
    "sub": (operator.sub, [operator.sub, operator.isub, torch.sub, torch.subtract], ["sub", "sub_"]),
    "mul": (operator.mul, [operator.mul, operator.imul, torch.mul, torch.multiply], ["mul", "mul_"]),
    "div": (operator.truediv, [operator.truediv, operator.itruediv, torch.div, torch.true_divide],
            ["div", "div_", "true_divide"]),
    "maximum": (max, [torch.maximum], ["maximum"]),
    "minimum": (min, [torch.minimum], ["minimum"]),
}


def _matmul(ctx: LoweringContext, a: Any, b: Any) -> Value:
    lhs, rhs = ctx.tensor(a), ctx.tensor(b)
    if lhs.type.rank != 2 or rhs.type.rank != 2:
        raise UnsupportedError(f"matmul of {lhs.type} and {rhs.type} is not supported; only 2-D x 2-D")
    return ctx.emit("matmul", [lhs, rhs])


def _linear(ctx: LoweringContext, x: Any, weight: Any, bias: Any = None) -> Value:
    if not isinstance(weight, Param) or (bias is not None and not isinstance(bias, Param)):
        raise UnsupportedError("F.linear is supported only with a weight (and bias) that are model constants")
    return ctx.linear(x, weight, bias)


# --- shape and reductions -----------------------------------------------------

def _reshape(ctx: LoweringContext, x: Any, *shape: Any) -> Value:
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(d, int) for d in shape):
        raise UnsupportedError(f"reshape to {list(shape)} is not supported; only integer sizes")
    return ctx.emit("reshape", [ctx.tensor(x)], shape=list(shape))


def _reduce(kind: str) -> Handler:
    def handler(ctx: LoweringContext, x: Any, dim: Any = None, keepdim: bool = False, *,
                dtype: torch.dtype | None = None) -> Value:
        value = ctx.tensor(x)
        rank = value.type.rank
        if dim is None or dtype not in (None, torch.float32):
            raise UnsupportedError(f"{kind}(dim={dim}, dtype={dtype}) is not supported; reduce over given "
                                   "dimension(s) of a float32 tensor")
        dims = sorted({d % rank for d in (dim if isinstance(dim, (tuple, list)) else [dim])}, reverse=True)
        out = value
        for d in dims:
            out = ctx.emit(f"reduce_{kind}", [out], axis=d)
        if keepdim:
            shape = [1 if i in dims else s for i, s in enumerate(value.type.shape)]
            out = ctx.emit("reshape", [out], shape=shape)
        return out

    return handler


def _rowwise(op: str) -> Handler:
    def handler(ctx: LoweringContext, x: Any, dim: Any = None, _stacklevel: int = 3,
                dtype: torch.dtype | None = None) -> Value:
        value = ctx.tensor(x)
        _last_dim(op, value, dim)
        return ctx.emit(op, [value])

    return handler


def _normalize(ctx: LoweringContext, x: Any, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
               out: Any = None) -> Value:
    value = ctx.tensor(x)
    if p != 2:
        raise UnsupportedError(f"F.normalize(p={p}) is not supported; only p=2")
    _last_dim("F.normalize", value, dim)
    return ctx.emit("l2_normalize", [value], eps=float(eps))


def _cat(ctx: LoweringContext, tensors: Any, dim: int = 0, *, axis: int | None = None,
         out: Any = None) -> Value:
    return ctx.emit("concat", [ctx.tensor(t) for t in tensors], axis=dim if axis is None else axis)


def _size(ctx: LoweringContext, x: Any, dim: int | None = None) -> Any:
    shape = tuple(ctx.tensor(x).type.shape)
    return shape if dim is None else shape[dim]


def _getattr(ctx: LoweringContext, x: Any, name: str) -> Any:
    value = ctx.tensor(x)
    if name == "shape":
        return tuple(value.type.shape)
    if name == "ndim":
        return value.type.rank
    raise UnsupportedError(f"attribute Tensor.{name} is not supported (only .shape and .ndim)")


def _getitem(ctx: LoweringContext, container: Any, index: Any) -> Any:
    if _is_tensor(container):
        raise UnsupportedError(f"indexing or slicing a tensor (x[{index!r}]) is not supported")
    return container[index]


# --- modules with state -------------------------------------------------------

def _linear_module(ctx: LoweringContext, module: nn.Module, qualname: str, x: Any) -> Value:
    return ctx.linear_module(module, qualname, x)


def _batch_norm(ctx: LoweringContext, module: nn.BatchNorm1d, qualname: str, x: Any) -> Value:
    """Eval-mode batch norm folded to ``x * scale + shift`` with per-channel constants."""
    value = ctx.tensor(x)
    if module.running_mean is None or module.running_var is None:
        raise UnsupportedError(
            f"module '{qualname}' (BatchNorm1d) has track_running_stats=False, so it normalises with "
            "batch statistics even in eval mode; that is not supported"
        )
    if value.type.rank != 2:
        raise UnsupportedError(f"module '{qualname}' (BatchNorm1d) on {value.type} is unsupported; "
                               "only [N, C] inputs are supported")
    with torch.no_grad():
        scale = torch.rsqrt(module.running_var + module.eps)
        if module.weight is not None:
            scale = scale * module.weight
        shift = -module.running_mean * scale
        if module.bias is not None:
            shift = shift + module.bias
    scaled = ctx.emit("mul", [value, ctx.param(qualify(qualname, "scale"), scale)])
    return ctx.emit("add", [scaled, ctx.param(qualify(qualname, "shift"), shift)])


def _layer_norm(ctx: LoweringContext, module: nn.LayerNorm, qualname: str, x: Any) -> Value:
    """``(x - mean) / sqrt(var + eps) * weight + bias`` over each row's features (biased variance, as torch;
    ``eps > 0``, so ``rsqrt_or_zero`` is the reciprocal square root)."""
    value = ctx.tensor(x)
    if value.type.rank != 2 or tuple(module.normalized_shape) != (value.type.shape[1],):
        raise UnsupportedError(f"module '{qualname}' (LayerNorm) over {tuple(module.normalized_shape)} on "
                               f"{value.type} is unsupported; only the last dimension of [N, C] inputs is")

    def per_row_mean(v: Value) -> Value:
        return ctx.emit("reshape", [ctx.emit("reduce_mean", [v], axis=-1)], shape=[-1, 1])

    if not module.eps > 0:  # a constant row would divide 0 by 0
        raise UnsupportedError(f"module '{qualname}' (LayerNorm) with eps={module.eps} is unsupported; "
                               "only eps > 0 is")
    centred = ctx.emit("sub", [value, per_row_mean(value)])
    variance = per_row_mean(ctx.emit("mul", [centred, centred]))
    inv_std = ctx.emit("rsqrt_or_zero", [ctx.emit("add", [variance, ctx.scalar(module.eps)])])  # eps > 0
    out = ctx.emit("mul", [centred, inv_std])
    if module.weight is not None:
        out = ctx.emit("mul", [out, ctx.param(qualify(qualname, "weight"), module.weight)])
    if module.bias is not None:
        out = ctx.emit("add", [out, ctx.param(qualify(qualname, "bias"), module.bias)])
    return out


def _gru_cell(ctx: LoweringContext, module: nn.GRUCell, qualname: str, input: Any, hx: Any = None) -> Value:
    """``h' = n + z * (h - n)`` (torch's ``(1 - z) * n + z * h``) with ``r = sigmoid(x W_ir + h W_hr + b_r)``,
    ``z = sigmoid(x W_iz + h W_hz + b_z)`` and ``n = tanh(x W_in + b_in + r * (h W_hn + b_hn))``: each gate's
    rows of ``weight_ih``/``weight_hh`` a constant of its own (the IR has no slicing), the input and
    hidden biases of ``r`` and ``z`` summed into one. Without ``hx`` the hidden state is 0, as in torch."""
    x, h = ctx.tensor(input), None if hx is None else ctx.tensor(hx)

    def rows(name: str, gate: str) -> Param | None:
        tensor, size = getattr(module, name), module.hidden_size
        if tensor is None:
            return None
        index = "rzn".index(gate)
        return Param(qualify(qualname, f"{name}.{gate}"), tensor.detach()[index * size:(index + 1) * size])

    def sigmoid_gate(gate: str) -> Value:
        bias = None
        if module.bias:
            bias = Param(qualify(qualname, f"bias.{gate}"), rows("bias_ih", gate).tensor + rows("bias_hh", gate).tensor)
        out = ctx.linear(x, rows("weight_ih", gate), bias)
        if h is not None:
            out = ctx.emit("add", [out, ctx.linear(h, rows("weight_hh", gate), None)])
        return ctx.emit("sigmoid", [out])

    r, z = sigmoid_gate("r"), sigmoid_gate("z")
    n = ctx.linear(x, rows("weight_ih", "n"), rows("bias_ih", "n"))
    if h is not None:
        n = ctx.emit("add", [n, ctx.emit("mul", [r, ctx.linear(h, rows("weight_hh", "n"), rows("bias_hh", "n"))])])
    elif module.bias:  # h = 0 leaves the hidden bias
        n = ctx.emit("add", [n, ctx.emit("mul", [r, ctx.tensor(rows("bias_hh", "n"))])])
    n = ctx.emit("tanh", [n])
    return ctx.emit("add", [n, ctx.emit("mul", [z, ctx.emit("neg", [n]) if h is None else ctx.emit("sub", [h, n])])])


def _jumping_knowledge(ctx: LoweringContext, module: JumpingKnowledge, qualname: str, xs: Any) -> Value:
    """Layer outputs combined per node: ``cat`` concatenates them, ``max`` takes the elementwise maximum."""
    if module.mode not in ("cat", "max"):
        raise UnsupportedError(
            f"module '{qualname}' (JumpingKnowledge) uses mode={module.mode!r}; only 'cat' and 'max' are "
            "supported (the 'lstm' mode runs an LSTM over the layers)"
        )
    values = [ctx.tensor(x) for x in xs]
    if module.mode == "cat":
        return ctx.emit("concat", values, axis=-1)
    out = values[0]
    for v in values[1:]:
        out = ctx.emit("maximum", [out, v])
    return out


def _module_rowwise(op: str) -> Handler:
    return lambda ctx, m, q, x: _rowwise(op)(ctx, x, m.dim)


FUNCTIONS: dict[Any, Handler] = {
    **ELEMENTWISE_FUNCTIONS,
    **{fn: _binary(op, py) for op, (py, fns, _) in _BINARY.items() for fn in fns},
    operator.matmul: _matmul, torch.matmul: _matmul, torch.mm: _matmul,
    F.linear: _linear, torch._C._nn.linear: _linear,
    torch.cat: _cat, torch.concat: _cat, torch.concatenate: _cat,
    torch.reshape: _reshape,
    torch.mean: _reduce("mean"), torch.sum: _reduce("sum"),
    F.softmax: _rowwise("softmax"), torch.softmax: _rowwise("softmax"),
    F.log_softmax: _rowwise("log_softmax"), torch.log_softmax: _rowwise("log_softmax"),
    F.normalize: _normalize,
    getattr: _getattr,
    operator.getitem: _getitem,
}
METHODS: dict[str, Handler] = {
    **ELEMENTWISE_METHODS,
    **{name: _binary(op, py) for op, (py, _, names) in _BINARY.items() for name in names},
    "matmul": _matmul,
    "view": _reshape, "reshape": _reshape,
    "mean": _reduce("mean"), "sum": _reduce("sum"),
    "softmax": _rowwise("softmax"), "log_softmax": _rowwise("log_softmax"),
    "size": _size,
    "dim": lambda ctx, x: ctx.tensor(x).type.rank,
}
MODULES: dict[type, Handler] = {
    **ELEMENTWISE_MODULES,
    nn.Linear: _linear_module, PygLinear: _linear_module,
    nn.BatchNorm1d: _batch_norm,
    nn.LayerNorm: _layer_norm,
    nn.GRUCell: _gru_cell,
    JumpingKnowledge: _jumping_knowledge,
    nn.Softmax: _module_rowwise("softmax"), nn.LogSoftmax: _module_rowwise("log_softmax"),
}


def supported_summary() -> str:
    """One-line list of what the frontend lowers, for error messages."""
    functions = sorted({getattr(f, "__name__", str(f)) for f in FUNCTIONS})
    return (
        f"supported layers: {', '.join(sorted(t.__name__ for t in CONVS))}; "
        f"modules: {', '.join(sorted({t.__name__ for t in MODULES}))} (and containers such as Sequential, "
        f"ModuleList, torch_geometric.nn.MLP that trace into these); "
        f"functions: {', '.join(functions)}; Tensor methods: {', '.join(sorted(METHODS))}"
    )


def unsupported_module(module: nn.Module, qualname: str) -> UnsupportedError:
    return UnsupportedError(
        f"module '{qualname}' ({type(module).__module__}.{type(module).__name__}) is unsupported; "
        f"{supported_summary()}"
    )
