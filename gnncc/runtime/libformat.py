"""The gnncc library format: what ``gnncc.export`` writes and ``gnncc.load`` reads (no TVM needed).

A library is a shared object built by TVM (all kernels) that also carries a *blob* in read-only
data, exported as the symbols ``gnncc_blob``/``gnncc_blob_end`` (so C++ finds it with dlsym):

    header  magic "GNNCCLIB", 16-byte nonce, format version, then offset/length (from the blob
            start) of: metadata (JSON), plan (text, the C++ runtime's call list), data (tensors,
            each 64-byte aligned)

After linking, a trailer is appended to the file (the dynamic loader ignores it): the blob's
offset and length in the file, the SHA-256 of everything before the trailer, and "GNNCCEND".
The loader checks the trailer and the checksum before anything is mapped or run, so a truncated
or damaged file is an error, never a crash.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gnncc.errors import LibraryError
from gnncc.ir.adjacency import Adjacency
from gnncc.ir.function import ConstData
from gnncc.runtime.executor import TORCH_DTYPES

MAGIC = b"GNNCCLIB"
END_MAGIC = b"GNNCCEND"
FORMAT_VERSION = 1
ALIGN = 64
BLOB_SYMBOL = "gnncc_blob"
_HEADER = struct.Struct("<8s16sII6Q")  # magic, nonce, version, reserved, (offset, length) x 3
_TRAILER = struct.Struct("<QQ32s8s")  # blob offset, blob length, sha256 of the file before it, END_MAGIC
TRAILER_SIZE = _TRAILER.size


def _pad(n: int) -> int:
    return -n % ALIGN


def const_tensors(constants: Mapping[str, ConstData]) -> Iterator[tuple[str, torch.Tensor]]:
    """Every tensor behind ``constants``: an adjacency is its ``indptr`` and ``indices``, then the
    derived layouts computed for it (``name/seg<G>/<part>``, ``name/ell<G>/<part>``, ``name/col<P>/<part>``:
    read by the C++ plan; the Python loader rebuilds them from the validated CSR instead of trusting
    the file)."""
    for name, data in constants.items():
        if isinstance(data, Adjacency):
            yield f"{name}/indptr", data.indptr
            yield f"{name}/indices", data.indices
            for layout_name, layout in data.computed_layouts().items():
                for part, t in layout._asdict().items():
                    yield f"{name}/{layout_name}/{part}", t
        else:
            yield name, data


def encode_constants(constants: Mapping[str, ConstData]) -> tuple[dict[str, Any], bytes]:
    """(table, data): where each tensor lies in ``data`` (64-byte aligned) and how constants are rebuilt."""
    chunks: list[bytes] = []
    tensors: dict[str, Any] = {}
    size = 0
    for key, t in const_tensors(constants):
        raw = t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        tensors[key] = {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "offset": size}
        chunks += [raw, bytes(_pad(len(raw)))]
        size += len(raw) + _pad(len(raw))
    adjacencies = {
        name: [data.num_src, data.num_dst] for name, data in constants.items() if isinstance(data, Adjacency)
    }
    return {"tensors": tensors, "adjacencies": adjacencies}, b"".join(chunks)


def decode_constants(table: Mapping[str, Any], data: memoryview) -> dict[str, ConstData]:
    """The constants of ``encode_constants``; tensors share ``data``'s memory (no copy)."""
    def tensor(key: str) -> torch.Tensor:
        entry = table["tensors"][key]
        dtype = TORCH_DTYPES[entry["dtype"]]
        count = 1
        for d in entry["shape"]:
            count *= d
        if count == 0:
            return torch.empty(entry["shape"], dtype=dtype)
        return torch.frombuffer(data, dtype=dtype, count=count, offset=entry["offset"]).view(entry["shape"])

    out: dict[str, ConstData] = {}
    try:
        for key in table["tensors"]:
            name, _, part = key.rpartition("/")
            if part == "indptr" and name in table["adjacencies"]:
                num_src, num_dst = table["adjacencies"][name]
                adj = Adjacency(tensor(key), tensor(f"{name}/indices"), int(num_src), int(num_dst))
                adj.validate()
                out[name] = adj
            elif not (part == "indices" and name in table["adjacencies"]) and \
                    name.rpartition("/")[0] not in table["adjacencies"]:
                out[key] = tensor(key)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise LibraryError(f"corrupt constant data: {exc}") from exc
    return out


def pack_blob(metadata: Mapping[str, Any], plan: str, data: bytes) -> bytes:
    """The blob embedded in the library; the nonce (a digest of the contents) locates it in the file."""
    meta = json.dumps(metadata, sort_keys=True).encode()
    sections = [meta, plan.encode(), data]
    offsets, pos = [], _HEADER.size + _pad(_HEADER.size)
    for s in sections:
        offsets += [pos, len(s)]
        pos += len(s) + _pad(len(s))
    nonce = hashlib.sha256(b"".join(sections)).digest()[:16]
    body = b"".join(s + bytes(_pad(len(s))) for s in sections)
    header = _HEADER.pack(MAGIC, nonce, FORMAT_VERSION, 0, *offsets)
    return header + bytes(_pad(_HEADER.size)) + body


def seal(library: bytes, blob: bytes) -> bytes:
    """``library`` (the linked shared object holding ``blob``) with the trailer appended."""
    offset = library.find(blob[: len(MAGIC) + 16])
    if offset < 0 or library[offset: offset + len(blob)] != blob:
        raise LibraryError("the linked library does not contain the gnncc blob; the blob object was not linked")
    return library + _TRAILER.pack(offset, len(blob), hashlib.sha256(library).digest(), END_MAGIC)


@dataclass
class LibraryImage:
    """A checked library file: its metadata, C++ plan and tensor data (a view of the file's bytes)."""

    path: Path
    metadata: dict[str, Any]
    plan: str
    data: memoryview
    size: int
    content: bytearray  # the checked bytes of the whole file: what gets loaded, not the path again


def read_library(path: str | Path) -> LibraryImage:
    """Read and check ``path``: trailer, checksum, blob header and format version."""
    path = Path(path)
    if not path.is_file():
        raise LibraryError(f"{path}: no such file")
    size = path.stat().st_size
    raw = bytearray(size)
    with path.open("rb") as f:
        f.readinto(raw)
    if size < _TRAILER.size or raw[-len(END_MAGIC):] != END_MAGIC:
        elf = raw[:4] == b"\x7fELF"
        raise LibraryError(
            f"{path}: not a gnncc library, or truncated: it does not end with the gnncc trailer"
            + (" (it is a shared library, but not one written complete by gnncc export)" if elf else "")
        )
    blob_off, blob_len, digest, _ = _TRAILER.unpack_from(raw, size - _TRAILER.size)
    body = memoryview(raw)[: size - _TRAILER.size]
    if hashlib.sha256(body).digest() != digest:
        raise LibraryError(
            f"{path}: corrupt: its SHA-256 does not match the checksum written at export "
            "(the file was modified or damaged); export it again"
        )
    if blob_off + blob_len > len(body) or blob_len < _HEADER.size:
        raise LibraryError(f"{path}: corrupt: the blob lies outside the file")
    magic, _, version, _, *offsets = _HEADER.unpack_from(raw, blob_off)
    if magic != MAGIC:
        raise LibraryError(f"{path}: corrupt: no gnncc blob at offset {blob_off}")
    if version != FORMAT_VERSION:
        raise LibraryError(
            f"{path}: gnncc library format version {version}, but this gnncc reads version {FORMAT_VERSION}; "
            "export the model again with this gnncc"
        )
    blob = body[blob_off: blob_off + blob_len]
    meta_off, meta_len, plan_off, plan_len, data_off, data_len = offsets
    try:
        metadata = json.loads(bytes(blob[meta_off: meta_off + meta_len]))
        plan = bytes(blob[plan_off: plan_off + plan_len]).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise LibraryError(f"{path}: corrupt metadata: {exc}") from exc
    return LibraryImage(path, metadata, plan, blob[data_off: data_off + data_len], size, raw)


# /proc/cpuinfo flags that name instruction-set extensions LLVM may emit for ``-mcpu`` (x86 and Arm)
_ISA_PREFIXES = ("sse", "ssse3", "avx", "fma", "f16c", "bmi", "popcnt", "abm", "movbe", "adx", "sha", "aes",
                 "pclmulqdq", "vaes", "vpclmulqdq", "gfni", "amx", "asimd", "sve", "fp", "crc32", "atomics")


def cpu_isa_features() -> list[str]:
    """Instruction-set extensions of this CPU (from /proc/cpuinfo; empty where it is unavailable)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return sorted(f for f in value.split() if f.startswith(_ISA_PREFIXES))
    return []
