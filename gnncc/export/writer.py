"""Write a ``CompiledModel`` as one shared library: every kernel (one TVM module), the weights and
per-graph data, the IR and graph program (to serve new graphs) and metadata, in the format of
``gnncc.runtime.libformat``. Runs on the compiling machine (needs TVM's compiler and a C compiler).
"""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import tvm
import tvm_ffi

import gnncc
from gnncc.errors import GnnccError
from gnncc.ir.function import ConstData, Function
from gnncc.ir.printer import print_function
from gnncc.ir.serialize import function_to_json
from gnncc.runtime import libformat
from gnncc.runtime.binding import CallBinding
from gnncc.runtime.executor import TORCH_DTYPES

if TYPE_CHECKING:
    from gnncc.compiler import CompiledModel


def _library_kernels(cm: CompiledModel) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Per kernel node: its metadata entry (with function names unique in the library), and the
    PrimFuncs by exported name. A kernel shared by several nodes is compiled once."""
    entries: list[dict[str, Any]] = []
    funcs: dict[str, Any] = {}
    bindings: dict[int, CallBinding] = {}
    for index, node in enumerate(cm.ir.nodes):
        kernel = cm.kernels.get(node)
        if kernel is None:
            continue
        binding = bindings.get(id(kernel))
        if binding is None:
            binding = kernel.binding
            if any(name in funcs for name, _ in binding.calls):  # same name, other attributes
                binding = binding.renamed(f"_v{len(bindings)}")
            for (name, _), call in zip(binding.calls, kernel.calls):
                funcs[name] = call.func.with_attr("global_symbol", name)
            bindings[id(kernel)] = binding
        entries.append({"node": index, "op": node.op, "family": kernel.family, "config": kernel.config,
                        "config_source": cm.config_sources.get(node, "default"), "binding": binding.to_json()})
    return entries, funcs


def _constants(cm: CompiledModel, program: Function) -> dict[str, ConstData]:
    """The optimised IR's constants and the graph program's (weights they share are stored once)."""
    merged = dict(cm.ir.constants)
    for name, data in program.constants.items():
        if name in merged and merged[name] is not data:
            raise GnnccError(f"export: constant {name!r} differs between the IR and the graph program")
        merged[name] = data
    return merged


def _target(cm: CompiledModel) -> dict[str, Any]:
    """What the code needs of the machine that runs it."""
    info: dict[str, Any] = {"kind": cm.target.kind, "key": cm.target.key(), "tvm": cm.target.tvm_target()}
    if cm.target.is_cuda:
        info["arch"] = cm.target.arch
    else:
        info["machine"] = platform.machine()
        info["cpu_features"] = libformat.cpu_isa_features()
    return info


def _reorder(cm: CompiledModel) -> dict[str, Any] | None:
    """The node reordering: its method (the loader recomputes it for a new graph) and the names of the
    constants holding the compile graph's permutation (row-gather adjacencies; see ``permute_rows``)."""
    names = cm.permutation_constants()
    if cm.reordering is None or names is None:
        return None
    return {"method": cm.reordering.method, "perm": names[0], "inverse": names[1]}


def _cpp_plan(cm: CompiledModel, table: dict[str, Any]) -> str:
    """The call list of one run on the compile graph, for runtimes without Python (CPU only).

    Each argument names its storage: ``input 0``, ``buffer K`` (a pooled intermediate) or
    ``const 0`` (the data section), a byte offset, a dtype and a shape.
    """
    if cm.target.is_cuda:
        return ""
    ex = cm.executor
    want = ex.input_type
    x = torch.empty(tuple(want.shape), dtype=TORCH_DTYPES[want.dtype])
    bases = [("input", 0, x)] + [("buffer", k, b) for k, b in enumerate(ex.buffers)]
    offsets = {key: table["tensors"][key]["offset"] for key, _ in libformat.const_tensors(cm.ir.constants)}
    bases += [("const", offsets[key], t) for key, t in libformat.const_tensors(cm.ir.constants)]

    def where(t: torch.Tensor) -> str:
        dtype = str(t.dtype).removeprefix("torch.")
        shape = f"{t.dim()} {' '.join(map(str, t.shape))}".strip()
        if t.numel() == 0:  # never dereferenced
            return f"const 0 0 {dtype} {shape}"
        ptr = t.data_ptr()
        for kind, index, base in bases:
            start = base.data_ptr()
            if base.numel() and start <= ptr < start + base.untyped_storage().nbytes():
                offset = ptr - start
                return f"{kind} 0 {index + offset} {dtype} {shape}" if kind == "const" else \
                    f"{kind} {index} {offset} {dtype} {shape}"
        raise GnnccError(f"export: an operand of shape {list(t.shape)} lies in no known buffer")

    calls, out = ex.trace(x)
    lines = [f"gnncc-plan {libformat.FORMAT_VERSION}", f"input {want.dtype} {len(want.shape)} "
             + " ".join(map(str, want.shape)), "buffers " + " ".join(str(b.numel()) for b in ex.buffers)]
    for name, args in calls:
        lines.append(f"call {name} {len(args)}")
        lines += [f"arg {where(t)}" for t in args]
    lines.append(f"output {where(out)}")
    return "\n".join(lines) + "\n"


def _assemble(blob: bytes, workdir: Path) -> Path:
    """An object file exporting ``blob`` as ``gnncc_blob`` .. ``gnncc_blob_end`` (read-only, 64-aligned)."""
    (workdir / "blob.bin").write_bytes(blob)
    sym = libformat.BLOB_SYMBOL
    (workdir / "blob.S").write_text(
        f'.section .rodata\n.global {sym}\n.global {sym}_end\n.balign {libformat.ALIGN}\n'
        f'{sym}:\n.incbin "{workdir / "blob.bin"}"\n{sym}_end:\n.section .note.GNU-stack,"",@progbits\n'
    )
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc") or "cc"
    proc = subprocess.run([cc, "-c", "-fPIC", str(workdir / "blob.S"), "-o", str(workdir / "blob.o")],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise GnnccError(f"export: assembling the data blob with {cc} failed:\n{proc.stderr}")
    return workdir / "blob.o"


def export_library(cm: CompiledModel, path: str | Path) -> Path:
    """Write ``cm`` to ``path`` (a .so); ``gnncc.load(path)`` serves it with the TVM runtime only."""
    path = Path(path)
    program = cm.graph_program
    if program is None:
        raise GnnccError("export: this model has no graph program (fold_graph_constants did not run)")
    entries, funcs = _library_kernels(cm)
    if not funcs:
        raise GnnccError("export: the model has no kernels to put in a library")
    table, data = libformat.encode_constants(_constants(cm, program.fn))
    want = cm.ir.inputs[0].type
    out = cm.ir.outputs[0].type
    metadata = {
        "format": "gnncc-library",
        "format_version": libformat.FORMAT_VERSION,
        "gnncc_version": gnncc.__version__,
        "tvm_version": tvm.__version__,
        "tvm_ffi_version": tvm_ffi.__version__,
        "target": _target(cm),
        "ir_hash": hashlib.sha256(print_function(cm.ir).encode()).hexdigest(),
        "graph": {"signature": cm.graph.signature, "num_nodes": cm.graph.num_nodes,
                  "num_edges": cm.graph.num_edges},
        "reorder": _reorder(cm),
        "input": {"name": cm.ir.inputs[0].node.attrs["name"], "shape": list(want.shape), "dtype": want.dtype},
        "output": {"shape": list(out.shape), "dtype": out.dtype},
        "kernels": entries,
        "ir": function_to_json(cm.ir),
        "graph_program": {"ir": function_to_json(program.fn), "names": list(program.names)},
        "constants": table,
    }
    blob = libformat.pack_blob(metadata, _cpp_plan(cm, table), data)
    try:
        lib = tvm.compile(tvm.IRModule(funcs), target=cm.target.tvm_target())
    except Exception as exc:  # TVM raises its own error types from lowering and codegen
        raise GnnccError(f"export: building the library for {cm.target} failed: {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="gnncc-export-") as tmp:
        work = Path(tmp)
        lib.export_library(str(work / "lib.so"), addons=[str(_assemble(blob, work))])
        sealed = libformat.seal((work / "lib.so").read_bytes(), blob)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(sealed)
    partial.replace(path)
    return path
