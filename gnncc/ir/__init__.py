"""The GNN IR: typed SSA dataflow over dense tensors and sparse adjacencies."""

from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import Builder, Function, Node, Value
from gnncc.ir.interpreter import evaluate
from gnncc.ir.ops import OPS, get_op
from gnncc.ir.printer import print_function
from gnncc.ir.types import AdjType, TensorType
from gnncc.ir.verifier import verify

__all__ = [
    "OPS", "AdjType", "Adjacency", "Builder", "Function", "Node", "TensorType", "Value",
    "evaluate", "get_op", "print_function", "verify",
]
