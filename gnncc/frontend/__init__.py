"""Frontends: turn a model written for a GNN framework into a GNN IR ``Function``."""

from gnncc.frontend.pyg import lower_pyg

__all__ = ["lower_pyg"]
