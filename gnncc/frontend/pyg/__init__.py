"""PyTorch Geometric frontend: ``lower_pyg(model, num_nodes, num_edges)`` -> IR ``Function``."""

from gnncc.frontend.pyg.lower import lower_pyg

__all__ = ["lower_pyg"]
