#!/usr/bin/env bash
# The GPU figures of issue 12 in one go (< 5 min on one H100): builds the full-size random-weight models on the
# GPU in fp16, then runs benchmarks/fullsize.py for
#   1. the default chain (rules + Grounded-SAM base/ViT-H + DiffEdit T=50 r=0.5), 512x512, with the replay of
#      its model calls (overhead per stage),
#   2. the same with --offload model (peak VRAM of that memory plan),
#   3. the default chain with --compile (torch.compile takes a minute or so the first time),
#   4. --offload sequential (least VRAM, slowest; T=10) and 5. the Ref-Diff chain.
# GPU_SH_ONLY="default compile" runs a subset (sweeps is not in the default set: GPU_SH_ONLY=sweeps) (a second try within the same 15 minutes of device time).
# Each writes a Markdown table to $OUT (or ./gpu-results) as it finishes, so a run cut short keeps what it did.
#
# On the lent GPU machine (no network, no diffusers): carry diffusers' wheel in .whl/ (README: Benchmarks) and
#   bash benchmarks/gpu.sh
# Smoke test of this script on a CPU with tiny models: GPU_SH_ARGS="--tiny --device cpu --steps 4" bash benchmarks/gpu.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-gpu-results}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
PY="${PYTHON:-python3}"
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
# refedit's stages register through entry points: install its metadata (no dependencies, no network)
"$PY" -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/refedit-meta . >/dev/null 2>&1 \
  && export PYTHONPATH="$PWD:${PYTHONPATH:+$PYTHONPATH:}/tmp/refedit-meta"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | tee "$OUT/gpu.txt"
"$PY" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, \
'transformers', transformers.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"

MODELS="${REFEDIT_FULLSIZE_DIR:-/tmp/refedit-fullsize}"
ARGS="${GPU_SH_ARGS:---device cuda}"
run() {  # name, seconds, fullsize.py arguments...
  local name=$1 limit=$2; shift 2
  echo "=== $name: $*"
  local start=$SECONDS
  timeout "$limit" "$PY" benchmarks/fullsize.py --models "$MODELS" $ARGS --out "$OUT/$name.md" --json "$OUT/$name.json" "$@" \
    2> >(grep -v -E "Writing model shards|torchvision|should be kept in float32" >&2)
  echo "=== $name: exit $? after $((SECONDS - start)) s"
}
ONLY="${GPU_SH_ONLY:-default offload-model compile offload-sequential refdiff}"
want() { case " $ONLY " in *" $1 "*) return 0;; esac; return 1; }
want default && run default 90 --repeat 3
want offload-model && run offload-model 60 --repeat 2 --offload model --no-replay
want compile && run compile 210 --repeat 3 --compile
# peak memory does not depend on T: 10 steps keep the streamed-weights run short
want offload-sequential && run offload-sequential 60 --repeat 1 --offload sequential --no-replay --steps 10
want refdiff && run refdiff 60 --repeat 2 --segmenter refdiff
# issue 14: a 5-ratio sweep and 4 variants against separate runs on the full-size SD 1.5 (goals 0.6x and 0.5x)
if want sweeps; then
  echo "=== sweeps"
  "$PY" -c "from refedit.testing.fullsize import build_fullsize; import torch; \
build_fullsize('$MODELS', device='cuda', dtype=torch.float16, roles=('sd',))" >/dev/null 2>&1
  timeout 150 "$PY" benchmarks/sweeps.py --device cuda --dtype float16 --sd "$MODELS/sd15-float16" --resolution 512 \
    --rounds 2 | tee "$OUT/sweeps.md"
fi
echo "=== all tables"
cat "$OUT"/*.md
