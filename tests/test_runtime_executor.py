"""The runtime: buffer planning and reuse, views, input validation (kernels stubbed by the
reference interpreter so this tests the executor alone)."""

import pytest
import torch

from gnncc.codegen.target import Target
from gnncc.errors import InputError
from gnncc.ir import Builder, TensorType
from gnncc.ir.interpreter import evaluate, evaluate_node
from gnncc.runtime import Executor, plan_buffers


class InterpretedKernel:
    """Stands in for a TVM kernel: writes the reference result into ``out``."""

    def __init__(self, node):
        self.node = node
        self.calls = 0

    def __call__(self, operands, out):
        self.calls += 1
        self.out = out
        out.copy_(evaluate_node(self.node, operands))

    def bind(self, operands, out):
        return lambda: self(operands, out)


def _chain(n_ops=6, width=8):
    b = Builder()
    x = b.input("x", TensorType((5, width)))
    h = x
    for i in range(n_ops):
        h = b.emit("relu" if i % 2 else "tanh", [h])
        h = b.emit("reshape", [h], shape=[5, width]) if i == 2 else h
    h = b.emit("add", [h, b.const("bias", torch.ones(width))])
    return b.finish([h])


def _executor(fn):
    kernels = {n: InterpretedKernel(n) for n in fn.nodes if n.op not in ("input", "const", "reshape")}
    return Executor(fn, kernels, Target("cpu")), kernels


def test_chain_reuses_two_buffers_and_matches():
    fn = _chain()
    ex, kernels = _executor(fn)
    # a chain needs only the buffer being read and the one being written
    assert len(ex.plan.sizes) == 2
    x = torch.randn(5, 8)
    assert torch.allclose(ex(x), evaluate(fn, {"x": x})[0])


def test_outputs_are_not_overwritten_by_later_calls():
    ex, _ = _executor(_chain())
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    out_a = ex(a)
    keep = out_a.clone()
    ex(b)
    assert torch.equal(out_a, keep)


def _storage_ptrs(ex) -> set[int]:
    return {buf.untyped_storage().data_ptr() for buf in ex.buffers}


def test_the_last_kernel_writes_a_new_tensor_each_call():
    """No copy out of the planned buffer (a torch copy woke torch's thread pool between TVM's kernels):
    the last kernel writes each call's result into a tensor of its own."""
    fn = _chain()
    ex, kernels = _executor(fn)
    last = kernels[fn.nodes[-1]]
    a, b = torch.randn(5, 8), torch.randn(5, 8)
    out_a, out_b = ex(a), ex(b)
    assert last.calls == 2 and last.out is out_b  # written in place, not copied
    ptrs = {out_a.untyped_storage().data_ptr(), out_b.untyped_storage().data_ptr()}
    assert len(ptrs) == 2 and not ptrs & _storage_ptrs(ex)
    out_a.zero_()  # the caller owns it
    assert torch.allclose(ex(b), out_b) and torch.allclose(out_b, evaluate(fn, {"x": b})[0])


@pytest.mark.parametrize("tail", ["reshape", "input"])
def test_an_output_that_is_a_view_or_the_input_is_copied(tail):
    b = Builder()
    x = b.input("x", TensorType((4, 6)))
    out = b.emit("reshape", [b.emit("tanh", [x])], shape=[6, 4]) if tail == "reshape" else x
    fn = b.finish([out])
    ex, _ = _executor(fn)
    xv = torch.randn(4, 6)
    got = ex(xv)
    assert torch.allclose(got, evaluate(fn, {"x": xv})[0])
    assert got.untyped_storage().data_ptr() not in _storage_ptrs(ex) | {xv.untyped_storage().data_ptr()}


def test_held_bytes_count_each_buffer_and_constant_once():
    ex, _ = _executor(_chain())  # views of the two buffers, and an 8-float bias
    assert ex.held_bytes() == sum(buf.numel() for buf in ex.buffers) + 8 * 4


def test_values_live_until_their_last_reader():
    b = Builder()
    x = b.input("x", TensorType((4, 4)))
    early = b.emit("exp", [x])
    mid = b.emit("tanh", [early])
    mid = b.emit("relu", [mid])
    out = b.emit("add", [mid, early])  # `early` is still needed here
    fn = b.finish([out])
    plan = plan_buffers(fn, fn.nodes[1:])
    slots = {n.op: plan.slot[n.output] for n in fn.nodes[1:]}
    assert slots["exp"] not in (slots["tanh"], slots["relu"], slots["add"])
    ex, _ = _executor(fn)
    xv = torch.randn(4, 4)
    assert torch.allclose(ex(xv), evaluate(fn, {"x": xv})[0])


def test_non_contiguous_and_offset_inputs_are_accepted():
    fn = _chain()
    ex, _ = _executor(fn)
    big = torch.randn(8, 5)
    x_t = big.t()  # non-contiguous view
    assert torch.allclose(ex(x_t), evaluate(fn, {"x": x_t.contiguous()})[0])
    flat = torch.randn(41)
    x_off = flat[1:].view(5, 8)  # contiguous but misaligned
    assert torch.allclose(ex(x_off), evaluate(fn, {"x": x_off.clone()})[0])


@pytest.mark.parametrize(
    "x, message",
    [
        (torch.randn(5, 7), "compiled for 8 input features, x has 7"),
        (torch.randn(6, 8), "the graph has 5 nodes, x has 6 rows"),
        (torch.randn(5, 8).double(), "must be float32, got float64"),
        (torch.randn(5, 8, 1), r"must have shape \[5, 8\]"),
        ([[1.0]], "must be a torch.Tensor"),
    ],
)
def test_bad_features_are_named(x, message):
    ex, _ = _executor(_chain())
    with pytest.raises(InputError, match=message):
        ex(x)


def test_compiled_profile_times_every_kernel_in_order():
    import gnncc
    from gnncc.cli import zoo

    data = gnncc.datasets.load("cora")
    cm = gnncc.compile(zoo.build("gcn", data.x.shape[1], 7), data.graph)
    profile = cm.profile(data.x, repeat=2)
    assert [s.kernel for s in profile.steps] == [k.name for k in cm.kernels.values()]
    assert [s.shape for s in profile.steps] == [tuple(n.output.type.shape) for n in cm.kernels]
    assert all(s.ms > 0 for s in profile.steps) and profile.call_ms > 0
    text = str(profile)
    assert all(s.kernel in text for s in profile.steps) and "a whole call" in text
    assert type(profile).from_dict(profile.as_dict()) == profile
    with pytest.raises(InputError, match="features x must have shape"):
        cm.profile(data.x[:, :5])
