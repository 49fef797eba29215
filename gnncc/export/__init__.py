"""``CompiledModel.export``: write a compiled model as one shared library (see docs/serving.md)."""

from gnncc.export.writer import export_library

__all__ = ["export_library"]
