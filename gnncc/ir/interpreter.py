"""Reference semantics of every IR op, in PyTorch.

Used to fold graph-only work at compile time and as the oracle that generated
kernels are tested against. Clarity over speed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gnncc.errors import IRError
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Function, Node, Value
from gnncc.ir.ops import attention_epilogue_start, fused_spmm_epilogue_start, parse_epilogue

_UNARY = {
    "relu": lambda x, a: torch.relu(x),
    "leaky_relu": lambda x, a: F.leaky_relu(x, a),
    "elu": lambda x, a: F.elu(x, a),
    "sigmoid": lambda x, a: torch.sigmoid(x),
    "tanh": lambda x, a: torch.tanh(x),
    "exp": lambda x, a: torch.exp(x),
    "log": lambda x, a: torch.log(x),
    "neg": lambda x, a: -x,
    "abs": lambda x, a: torch.abs(x),
    "rsqrt_or_zero": lambda x, a: torch.where(x > 0, x.clamp_min(1e-38).rsqrt(), torch.zeros_like(x)),
    "softplus": lambda x, a: F.softplus(x),
    "gelu": lambda x, a: F.gelu(x),
    "silu": lambda x, a: F.silu(x),
    "sqrt": lambda x, a: torch.sqrt(x),
    "square": lambda x, a: x * x,
    "step": lambda x, a: (x > 0).to(x.dtype),  # Heaviside: 1 where x > 0, else 0 (NaN too)
}
_BINARY = {
    "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
    "maximum": torch.maximum, "minimum": torch.minimum,
}


def segment_reduce(messages: torch.Tensor, adj: Adjacency, reduce: str) -> torch.Tensor:
    """Reduce edge rows into their destinations; rows without edges are 0."""
    dst = adj.dst_ids().to(messages.device)
    out_shape = (adj.num_dst, *messages.shape[1:])
    index = dst.view(-1, *([1] * (messages.dim() - 1))).expand_as(messages)
    out = torch.zeros(out_shape, dtype=messages.dtype, device=messages.device)
    if reduce == "sum":
        return out.scatter_add_(0, index, messages)
    if reduce == "mean":
        out.scatter_add_(0, index, messages)
        deg = adj.in_degrees().to(messages.device).clamp_min(1).to(messages.dtype)
        return out / deg.view(-1, *([1] * (messages.dim() - 1)))
    if reduce == "max":
        return out.scatter_reduce_(0, index, messages, "amax", include_self=False)
    raise IRError(f"unknown reduce {reduce!r}")


def _edge_softmax(adj: Adjacency, scores: torch.Tensor) -> torch.Tensor:
    dst = adj.dst_ids().to(scores.device)
    index = dst.view(-1, *([1] * (scores.dim() - 1))).expand_as(scores)
    shape = (adj.num_dst, *scores.shape[1:])
    row_max = torch.full(shape, float("-inf"), device=scores.device).scatter_reduce(
        0, index, scores, "amax", include_self=True
    )
    e = torch.exp(scores - row_max.gather(0, index))
    denom = torch.zeros(shape, device=scores.device).scatter_add_(0, index, e)
    return e / denom.gather(0, index)


def _edge_expand(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Edge weights [nnz] or [nnz, H] broadcast against gathered rows [nnz, F] / [nnz, H, C]."""
    return w.view(*w.shape, *([1] * (x.dim() - w.dim())))


def _spmm(adj: Adjacency, x: torch.Tensor, w: torch.Tensor | None, reduce: str, edge_op: str = "mul",
          act: str = "", dst_rows: torch.Tensor | None = None) -> torch.Tensor:
    """``reduce`` over each row's in-edges of ``act(x[src] edge_op w[e] - dst_rows[dst])`` (scaled rows without
    ``act``, no subtraction without ``dst_rows``)."""
    msg = x.index_select(0, adj.src_ids().to(x.device))
    if w is not None:
        msg = msg + w if edge_op == "add" else msg * _edge_expand(w, msg)
    if dst_rows is not None:
        msg = msg - dst_rows.index_select(0, adj.dst_ids().to(x.device))
    if act:
        msg = apply_epilogue(msg, [act], [])
    return segment_reduce(msg, adj, reduce)


def apply_epilogue(out: torch.Tensor, steps: list[str] | tuple[str, ...], operands: list[torch.Tensor]) -> torch.Tensor:
    """Apply a fused op's epilogue (see ``gnncc.ir.ops``) to its ``[N, W]`` result."""
    rest = iter(operands)
    for step in parse_epilogue(steps):
        if step.kind is None:
            out = _UNARY[step.op](out, step.alpha)
            continue
        operand = next(rest)
        if step.col is not None:
            operand = operand[:, step.col:step.col + out.shape[1]]
        out = _BINARY[step.op](out, operand)
    return out


def _attention_spmm(attrs: dict[str, Any], adj: Adjacency, x: torch.Tensor, p: torch.Tensor,
                    q: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """GAT (``leaky_relu(p[src] + q[dst] (+ bias[e]))``), GATv2 (``q . leaky_relu(x[src] + p[dst]
    (+ bias[e]))``) or dot-product (``scale * p[src] . q[dst]``) scores, edge softmax, weighted sum of
    source rows, heads concatenated or averaged."""
    src, dst = adj.src_ids().to(x.device), adj.dst_ids().to(x.device)
    if attrs["score"] == "gat":
        pre = p.index_select(0, src) + q.index_select(0, dst)
        scores = F.leaky_relu(pre if bias is None else pre + bias, attrs["negative_slope"])
    elif attrs["score"] == "dot":
        scores = (p.index_select(0, src) * q.index_select(0, dst)).sum(-1) * attrs["scale"]
    else:
        pre = x.index_select(0, src) + p.index_select(0, dst)
        mixed = F.leaky_relu(pre if bias is None else pre + bias, attrs["negative_slope"])
        scores = (mixed * q).sum(-1)
    out = _spmm(adj, x, _edge_softmax(adj, scores), "sum")
    return out.reshape(out.shape[0], -1) if attrs["heads"] == "concat" else out.mean(1)


def _edge_attr(adj: Adjacency, width: int | None, dtype: str) -> torch.Tensor:
    """The graph's edge data, checked against the shape and kind the model was compiled for."""
    types = dtype == "int64"
    want = "[E] (edge types)" if types else "[E] (edge weights)" if width is None else f"[E, {width}] (edge features)"
    values = adj.edge_values
    if values is None:
        keyword = "edge_type" if types else "edge_weight" if width is None else "edge_attr"
        raise IRError(f"graph.edge_attr: the model reads edge data of shape {want}, but the graph has none; "
                      f"pass it as gnncc.Graph(edge_index, {keyword}=...) or in a PyG Data's {keyword}")
    if types:
        if values.dtype != torch.int64:
            raise IRError(f"graph.edge_attr: the model reads {want}, but the graph carries {values.dtype} edge "
                          f"data of shape {list(values.shape)}; pass gnncc.Graph(edge_index, edge_type=...)")
        return values
    if values.shape[1:] != (() if width is None else (width,)):
        raise IRError(f"graph.edge_attr: the model reads edge data of shape {want}, but the graph's edge_attr "
                      f"has shape {list(values.shape)}")
    if values.dtype != torch.float32:
        raise IRError(f"graph.edge_attr: the graph's edge_attr is {values.dtype}; gnncc computes with float32 "
                      "edge data (convert it with .float())")
    return values


def evaluate_node(node: Node, args: list[Any], graph_adj: Adjacency | None = None) -> Any:
    """Value of one node given its operands' values."""
    op, attrs = node.op, node.attrs
    if op == "graph.adj":
        if graph_adj is None:
            raise IRError("graph.adj: no graph was given to evaluate against")
        return graph_adj
    if op == "graph.add_self_loops":
        return args[0].with_self_loops(keep_existing=attrs["keep_existing"])
    if op == "graph.remove_self_loops":
        return args[0].without_self_loops()
    if op == "graph.degree":
        return args[0].degrees(attrs["end"], args[1] if len(args) > 1 else None)
    if op == "graph.edge_full":
        return torch.full((args[0].nnz,), float(attrs["value"]))
    if op == "graph.edge_attr":
        return _edge_attr(args[0], attrs["width"], attrs["dtype"])
    if op == "graph.relation_adj":
        try:
            return args[0].relation_split(args[1], attrs["num_relations"], attrs["split"], attrs["first"],
                                          attrs["count"])
        except ValueError as e:  # a relation id outside the layer's num_relations
            raise IRError(f"{op}: {e}") from None
    if op == "graph.relation_degree":
        return args[0].relation_degrees(attrs["num_relations"])
    if op == "graph.loop_free_values":
        return args[1].loop_free_values(args[0])
    if op == "graph.self_loop_values":
        return args[1].self_loop_values(args[0], attrs["fill"], attrs["reuse_existing"], attrs["keep_existing"])
    if op == "gather":
        x, adj = args
        ids = adj.src_ids() if attrs["end"] == "src" else adj.dst_ids()
        return x.index_select(0, ids.to(x.device))
    if op == "scatter":
        return segment_reduce(args[0], args[1], attrs["reduce"])
    if op == "spmm":
        return _spmm(args[0], args[1], args[2] if len(args) == 3 else None, attrs["reduce"])
    if op == "fused_spmm":
        n_agg = fused_spmm_epilogue_start(attrs)
        x = args[1][:, attrs["x_cols"][0]:attrs["x_cols"][1]] if attrs["x_cols"] else args[1]
        out = _spmm(args[0], x, args[2] if attrs["weighted"] else None, attrs["reduce"], attrs["edge_op"],
                    attrs["message_act"], args[n_agg - 1] if attrs["dst_op"] else None)
        return apply_epilogue(out, attrs["epilogue"], args[n_agg:])
    if op == "spmm_matmul":
        n_agg = fused_spmm_epilogue_start(attrs)
        out = _spmm(args[0], args[1], args[2] if attrs["weighted"] else None, attrs["reduce"], attrs["edge_op"],
                    attrs["message_act"])
        return apply_epilogue(out, attrs["epilogue"], args[n_agg:-1]) @ args[-1]
    if op == "attention_spmm":
        start = attention_epilogue_start(attrs)
        return apply_epilogue(_attention_spmm(attrs, *args[:start]), attrs["epilogue"], args[start:])
    if op == "sddmm":
        adj, u, v = args
        us = u.index_select(0, adj.src_ids().to(u.device))
        vd = v.index_select(0, adj.dst_ids().to(v.device))
        if attrs["op"] == "add":
            return us + vd
        if attrs["op"] == "mul":
            return us * vd
        return (us * vd).sum(-1)
    if op == "edge_softmax":
        return _edge_softmax(args[0], args[1])
    if op == "matmul":
        return args[0] @ args[1]
    if op == "fused_matmul":
        return apply_epilogue(args[0] @ args[1], attrs["epilogue"], args[2:])
    if op in _UNARY:
        return _UNARY[op](args[0], attrs.get("alpha"))
    if op in _BINARY:
        return _BINARY[op](args[0], args[1])
    if op == "reshape":
        return args[0].reshape(attrs["shape"])
    if op == "concat":
        return torch.cat(args, dim=attrs["axis"])
    if op == "reduce_dot":
        return (args[0] * args[1]).sum(attrs["axis"])
    if op.startswith("reduce_"):
        kind = op.removeprefix("reduce_")
        x, axis = args[0], attrs["axis"]
        if kind == "max":
            return x.amax(axis)
        return x.sum(axis) if kind == "sum" else x.mean(axis)
    if op == "softmax":
        return torch.softmax(args[0], -1)
    if op == "log_softmax":
        return torch.log_softmax(args[0], -1)
    if op == "l2_normalize":
        return F.normalize(args[0], p=2.0, dim=-1, eps=attrs["eps"])
    raise IRError(f"the interpreter has no rule for op {op!r}")


def evaluate(
    fn: Function, inputs: dict[str, torch.Tensor], graph_adj: Adjacency | None = None
) -> list[torch.Tensor]:
    """Run ``fn`` op by op; ``inputs`` maps input names to tensors."""
    env: dict[Value, Any] = {}
    for node in fn.nodes:
        if node.op == "input":
            env[node.output] = inputs[node.attrs["name"]]
        elif node.op == "const":
            env[node.output] = fn.constants[node.attrs["name"]]
        else:
            env[node.output] = evaluate_node(node, [env[v] for v in node.inputs], graph_adj)
    return [env[v] for v in fn.outputs]
