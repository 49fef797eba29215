#!/usr/bin/env bash
# The GPU checks of issues 3 and 4 as one device call of at most 10 minutes: correctness of every
# CUDA schedule point first, then the SpMM/SDDMM benchmarks against cuSPARSE and PyTorch, and the
# model benchmarks against PyG (last, a few under torch.compile, which takes a minute a model).
# Each step has its own time limit, so a slow one cannot eat the others' time, and writes into
# $OUT as it goes (the benches rewrite their JSON after every case), so a step cut short still
# brings back what it measured.
#
#   here, once:      bash ../shared/gpu/prepare.sh && bash tools/device_check.sh --prepare
#   device call 1:   bash .gpu/s1/stage1.sh                      carry [".gpu/s1"]
#   device call 2:   bash tools/device_check.sh                  carry [".gpu/s2", ".gpu/data"], timeout_s 600
#
# Call 2 must follow call 1 within ~30 s (the machine goes back when idle). STEPS (names below,
# space-separated) runs only those steps; GRAPHS and FEATS replace the benchmark graphs and widths.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [ "${1:-}" = "--prepare" ]; then  # copy the graphs where the device tool can carry them
    mkdir -p .gpu/data
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
    cp "$root"/../shared/data/*.npz .gpu/data/
    echo "ready: .gpu/data ($(du -sh .gpu/data | cut -f1))"
    exit 0
fi

out="${OUT:-$root/device-out}"
mkdir -p "$out"
log="$out/device_check.log"
started=$(date +%s)
say() { echo "[$(( $(date +%s) - started ))s] $*" | tee -a "$log"; }

if ! python3 -c "import tvm" 2>/dev/null; then  # the device machine has no TVM: stage the carried one
    bash .gpu/s2/stage2.sh >> "$log" 2>&1 || { say "stage2 failed (see the log): start again at device call 1"; exit 3; }
fi
export PYTHONPATH="/tmp/site:$root${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GNNCC_DATA="${GNNCC_DATA:-$root/.gpu/data}" TVM_NUM_THREADS="${TVM_NUM_THREADS:-$(nproc)}"
target="${TARGET:-cuda}"
graphs="${GRAPHS:-cora citeseer pubmed amazon_photo amazon_computers coauthor_cs facebook_pagepage flickr ogbn_arxiv rmat-1M-16M}"
feats="${FEATS:-32 128 512}"
gnncc=(python3 -m gnncc)

# step NAME SECONDS COMMAND...: run COMMAND under a time limit, its output appended to the log
step() {
    local name=$1 limit=$2
    shift 2
    if [ -n "${STEPS:-}" ] && [[ " $STEPS " != *" $name "* ]]; then return; fi
    say "== $name (limit ${limit}s): $*"
    timeout --signal=INT --kill-after=10 "$limit" "$@" >> "$log" 2>&1
    say "== $name: exit status $?"
}

step environment 30 bash -c 'nvidia-smi -L; python3 -c "import torch, tvm, xgboost, gnncc;
print(torch.__version__, torch.cuda.get_device_name(), tvm.__version__, xgboost.__version__)"'
step correctness 160 python3 -m pytest -m cuda -q -n "$(nproc)" -p no:cacheprovider \
    tests/test_codegen_cuda_device.py --junitxml="$out/device_tests.xml"
# shellcheck disable=SC2086  # graphs and feats are word lists
step spmm 120 "${gnncc[@]}" bench --op spmm --graph $graphs --feat $feats --target "$target" \
    --repeat 20 --log "$out/records.jsonl" --json "$out/spmm.json"
# shellcheck disable=SC2086
step sddmm 80 "${gnncc[@]}" bench --op sddmm --graph $graphs --feat $feats --target "$target" \
    --repeat 20 --log "$out/records.jsonl" --json "$out/sddmm.json"
step models 90 "${gnncc[@]}" bench --model gcn sage gin gat appnp --graph ogbn_arxiv flickr rmat-1M-16M \
    --target "$target" --repeat 10 --log "$out/records.jsonl" --json "$out/models.json"
step models_compiled 80 "${gnncc[@]}" bench --model gcn gat appnp --graph ogbn_arxiv --target "$target" \
    --repeat 10 --pyg-compile --log "$out/records.jsonl" --json "$out/models_compiled.json"
say "done"
