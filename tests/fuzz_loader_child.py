"""Child process of tests/test_fuzz_loader.py: load mutated libraries; any non-gnncc exception or a
crash fails the run. Prints ``tried=N loaded=N rejected=N`` (GNNCC_FUZZ_VERBOSE=1: each rejection)."""

from __future__ import annotations

import hashlib
import os
import random
import sys
from pathlib import Path

import torch

import gnncc
from gnncc.errors import GnnccError
from gnncc.runtime.libformat import _TRAILER

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_fuzz_graph import _mutate  # noqa: E402  (the seeded byte mutator of the .npz fuzz)


def _restamp(data: bytes, trailer: tuple) -> bytes:
    """Re-append a trailer whose checksum matches the (mutated) body: reaches the checks behind it."""
    blob_off, blob_len, _, end = trailer
    return data + _TRAILER.pack(blob_off, blob_len, hashlib.sha256(data).digest(), end)


def main(lib_path: str, graph_path: str, n_inputs: int, seed: int) -> None:
    original = Path(lib_path).read_bytes()
    body, trailer = original[: -_TRAILER.size], _TRAILER.unpack(original[-_TRAILER.size:])
    blob_off, blob_len = trailer[0], trailer[1]
    graph = gnncc.Graph.from_npz(graph_path)
    x = torch.randn(graph.num_nodes, gnncc.load(lib_path).in_features)
    rng = random.Random(seed)
    work = Path(lib_path).with_name("mutant.so")
    tried = loaded = rejected = 0
    for i in range(n_inputs):
        mode = i % 3
        if mode == 0:  # any bytes of the file: the checksum must catch it
            data = _mutate(rng, original, [original])
        elif mode == 1:  # the blob (metadata, plan, data) with a valid checksum: the parsers must
            blob = bytearray(body[blob_off: blob_off + blob_len])
            blob = _mutate(rng, bytes(blob), [bytes(blob)])[: blob_len].ljust(blob_len, b"\0")
            data = _restamp(body[:blob_off] + blob + body[blob_off + blob_len:], trailer)
        else:  # the trailer's offsets, with a valid checksum
            off = max(0, blob_off + rng.choice([-1, 1]) * rng.randrange(0, 4096))
            length = max(0, blob_len + rng.choice([-1, 1]) * rng.randrange(0, 4096))
            data = body + _TRAILER.pack(off, length, hashlib.sha256(body).digest(), trailer[3])
        work.write_bytes(data)
        tried += 1
        try:
            model = gnncc.load(work)
            model(x, graph)
            loaded += 1
        except GnnccError as exc:
            rejected += 1
            if os.environ.get("GNNCC_FUZZ_VERBOSE"):
                print(i, mode, "rejected:", str(exc)[:150], file=sys.stderr, flush=True)
    print(f"tried={tried} loaded={loaded} rejected={rejected}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    sys.stdout.flush()
