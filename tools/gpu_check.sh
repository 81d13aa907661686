#!/usr/bin/env bash
# The prepared GPU run of issue 15: one command that uses a GPU machine in one short session.
#
#   tools/gpu_check.sh            on a CUDA machine (one GPU), ~7-8 min on an H200 with the default budget
#   tools/gpu_check.sh --smoke    the same phases on the CPU, shortened: WaveFormer-T vs PVTv2-B0 (no Swin-T) at 64x64,
#                                 bfloat16 only, batch 2 only, one compiled run (others: inference only), the eager backend
#                                 (dynamo's graph capture without code generation); what tests/test_gpu_check.py runs
#
# Phases, most important first; each runs in its own process, writes its JSON (and a run record) under one folder
# (below) and its log under logs/; a phase whose estimate no longer fits the time
# budget is skipped and listed as such in phases.tsv and summary.md:
#   env                   nvidia-smi, versions, machine (env.txt, env.json)
#   equivalence           library vs the published formulation on CUDA: outputs (autograd and in-place paths, fused
#                         vs unfused), training loss and gradients (float32, TF32 off); fp16/bf16 autocast vs float32
#   eager_b64             benchmark: WaveFormer-S vs PVTv2-B2 vs Swin-T vs the reference, fp16 and bf16 autocast,
#                         infer and train, output checks
#   compiled_float16_b64  benchmark with torch.compile (inductor): WaveFormer-S vs PVTv2-B2, infer and train, compiled
#                         vs eager outputs, graph-break / recompilation counts
#   profile               per-part and per-kernel time of a training and an inference step, WaveFormer-S vs PVTv2-B2
#   eager_b128            as eager_b64 at batch 128
#   compiled_bfloat16_b128, compiled_float16_b128, compiled_bfloat16_b64   as compiled_float16_b64
#   equivalence_compiled  compiled vs eager loss and gradients (float32)
#   compiled_others       Swin-T and the reference compiled (fp16, batch 64)
# and then, always, summary.md / summary.json (tools/gpu_summary.py): WaveFormer-S / PVTv2-B2 per batch, precision
# and mode, eager and compiled, against the issue's targets; the checks; graph breaks; the phases and their times.
#
# Every file goes to one folder, GPU_CHECK_DIR (default output/gpu_check/). When OUT is set (the device tool's folder
# of files to bring back, which takes a few files only), OUT receives gpu_check.tar.gz (that whole folder, rewritten
# after every phase, so a run cut short still brings back what it finished), summary.md, summary.json and phases.tsv.
#
# Environment: OUT, GPU_CHECK_DIR, PYTHON (interpreter, default python3 or python), GPU_CHECK_BUDGET_S (seconds for
# all phases, default 420), GPU_CHECK_PHASES (comma-separated subset, default all), GPU_CHECK_SMOKE=1 (same as
# --smoke), GPU_CHECK_TRACES=1 (Chrome traces of the profiled steps; large). Wheels in .whl/ (packages the machine
# lacks, e.g. PyWavelets on the H200 image) are installed into /tmp/gpu_check_site first.
set -uo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
# an interpreter, optionally with a prefix (nice -n 10 python)
read -r -a PY <<< "${PYTHON:-$(command -v python3 || command -v python)}"
SMOKE="${GPU_CHECK_SMOKE:-0}"
[[ "${1:-}" == "--smoke" ]] && SMOKE=1
OUT_DIR="${GPU_CHECK_DIR:-output/gpu_check}"
mkdir -p "$OUT_DIR/logs"
if compgen -G ".whl/*.whl" > /dev/null; then
    "${PY[@]}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu_check_site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/gpu_check_site"
fi
# bring_back: copy the folder (packed) and the summary to $OUT, when set
bring_back() {
    [[ -n "${OUT:-}" ]] || return 0
    mkdir -p "$OUT"
    tar czf "$OUT/gpu_check.tar.gz" -C "$(dirname "$OUT_DIR")" "$(basename "$OUT_DIR")"
    local f
    for f in summary.md summary.json phases.tsv; do
        [[ -f "$OUT_DIR/$f" ]] && cp "$OUT_DIR/$f" "$OUT/"
    done
    return 0
}
BUDGET="${GPU_CHECK_BUDGET_S:-420}"
PHASES=",${GPU_CHECK_PHASES:-all},"
START=$(date +%s)

if [[ "$SMOKE" == 1 ]]; then  # tiny models and sizes, bfloat16 only, one batch, one compiled run
    DEVICE=cpu; SIZE=64; WARMUP=0; REPEATS=1; STEPS=1; EQ_ARCH=t; EQ_BATCH=2; CLASSES=10
    WF=wavemsa_t; PVT=pvt_v2_b0; BACKEND=eager; BUDGET=100000
    DTYPES=(bfloat16); BATCHES=(2); COMPILED=("bfloat16 2"); ALL=("$WF" "$PVT" "$WF:reference")
    OTHERS=("$WF:reference" "$PVT"); OTHERS_MODES=(infer); EXTRA=()
else
    DEVICE=cuda; SIZE=224; WARMUP=3; REPEATS=10; STEPS=3; EQ_ARCH=s; EQ_BATCH=8; CLASSES=1000
    WF=wavemsa_s; PVT=pvt_v2_b2; SWIN=swin_tiny_patch4_window7_224; BACKEND=inductor
    DTYPES=(float16 bfloat16); BATCHES=(64 128); COMPILED=("float16 64" "bfloat16 128" "float16 128" "bfloat16 64")
    ALL=("$WF" "$PVT" "$SWIN" "$WF:reference"); OTHERS=("$SWIN" "$WF:reference" "$PVT"); OTHERS_MODES=(infer train)
    EXTRA=(--cudnn-benchmark)
fi
COMMON=(--device "$DEVICE" --img-size "$SIZE" --num-classes "$CLASSES" --warmup "$WARMUP" --repeats "$REPEATS")
printf 'phase\tstatus\tseconds\n' > "$OUT_DIR/phases.tsv"

# phase NAME ESTIMATE_S COMMAND...: run COMMAND unless deselected or its estimate no longer fits the budget
phase() {
    local name="$1" estimate="$2"; shift 2
    if [[ "$PHASES" != ",all," && "$PHASES" != *",$name,"* ]]; then return; fi
    local now elapsed left
    now=$(date +%s); elapsed=$((now - START)); left=$((BUDGET - elapsed))
    if (( estimate > left )); then
        echo "[gpu_check] skip $name: estimate ${estimate}s > ${left}s left"
        printf '%s\tskipped (budget)\t0\n' "$name" >> "$OUT_DIR/phases.tsv"
        return
    fi
    echo "[gpu_check] $name ..."
    local t0 rc
    t0=$(date +%s)
    timeout --signal=INT --kill-after=20 "$left" "$@" > "$OUT_DIR/logs/$name.log" 2>&1
    rc=$?
    local took=$(( $(date +%s) - t0 ))
    printf '%s\t%s\t%s\n' "$name" "$([[ $rc == 0 ]] && echo ok || echo "failed (exit $rc)")" "$took" >> "$OUT_DIR/phases.tsv"
    echo "[gpu_check] $name: exit $rc after ${took}s (log: $OUT_DIR/logs/$name.log)"
    [[ $rc == 0 ]] || tail -n 5 "$OUT_DIR/logs/$name.log"
    bring_back
}

env_info() {
    { command -v nvidia-smi > /dev/null && nvidia-smi; "${PY[@]}" -c "import torch, timm, pywt, sys
print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda,
      'cudnn', torch.backends.cudnn.version(), 'timm', timm.__version__, 'pywt', pywt.__version__)
print('device', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"; } > "$OUT_DIR/env.txt" 2>&1
    "${PY[@]}" -c "import json, sys; from wavemsa.records import machine_info, git_info
json.dump({**machine_info(), **git_info()}, open(sys.argv[1], 'w'), indent=1)" "$OUT_DIR/env.json"
}

# bench_phase NAME ESTIMATE_S ARGS...: tools/benchmark.py (with the common options and --check) writing NAME.json,
# NAME.md and the run record NAME.record.json
BENCH=("${PY[@]}" tools/benchmark.py "${COMMON[@]}" "${EXTRA[@]}" --check)
bench_phase() {
    local name="$1" estimate="$2"; shift 2
    phase "$name" "$estimate" "${BENCH[@]}" --out "$OUT_DIR/$name" --record "$OUT_DIR/$name.record.json" "$@"
}

TRACES=()
[[ "${GPU_CHECK_TRACES:-0}" == 1 ]] && TRACES=(--trace-dir "$OUT_DIR/traces")

env_info || { echo "[gpu_check] the Python environment is not usable: see $OUT_DIR/env.txt"; bring_back; exit 2; }
compiled_phase() {  # compiled_phase "DTYPE BATCH"
    local dtype batch
    read -r dtype batch <<< "$1"
    bench_phase "compiled_${dtype}_b$batch" 150 --models "$WF" "$PVT" --compile --compile-backend "$BACKEND" \
        --dtype "$dtype" --batch-size "$batch"
}
phase equivalence 60 "${PY[@]}" tools/equivalence.py --device "$DEVICE" --arch "$EQ_ARCH" --batch-size "$EQ_BATCH" \
    --img-size "$SIZE" --num-classes "$CLASSES" --dtype "${DTYPES[@]}" \
    --out "$OUT_DIR/equivalence.json" --record "$OUT_DIR/equivalence.record.json"
bench_phase "eager_b${BATCHES[0]}" 60 --models "${ALL[@]}" --dtype "${DTYPES[@]}" --batch-size "${BATCHES[0]}"
compiled_phase "${COMPILED[0]}"
phase profile 60 "${PY[@]}" tools/profile_step.py --models "$WF" "$PVT" --device "$DEVICE" --img-size "$SIZE" \
    --num-classes "$CLASSES" --dtype "${DTYPES[0]}" --batch-size "${BATCHES[0]}" --warmup "$WARMUP" \
    --repeats "$REPEATS" --steps "$STEPS" "${EXTRA[@]}" "${TRACES[@]}" --out "$OUT_DIR/profile_b${BATCHES[0]}" \
    --record "$OUT_DIR/profile_b${BATCHES[0]}.record.json"
for batch in "${BATCHES[@]:1}"; do
    bench_phase "eager_b$batch" 70 --models "${ALL[@]}" --dtype "${DTYPES[@]}" --batch-size "$batch"
done
for combo in "${COMPILED[@]:1}"; do
    compiled_phase "$combo"
done
phase equivalence_compiled 120 "${PY[@]}" tools/equivalence.py --device "$DEVICE" --arch "$EQ_ARCH" \
    --batch-size "$EQ_BATCH" --img-size "$SIZE" --num-classes "$CLASSES" --dtype --compile \
    --compile-backend "$BACKEND" --out "$OUT_DIR/equivalence_compiled.json" \
    --record "$OUT_DIR/equivalence_compiled.record.json"
bench_phase compiled_others 200 --models "${OTHERS[@]}" --baseline "$PVT" --compile --compile-backend "$BACKEND" \
    --dtype "${DTYPES[0]}" --batch-size "${BATCHES[0]}" --modes "${OTHERS_MODES[@]}"
"${PY[@]}" tools/gpu_summary.py "$OUT_DIR" --candidate "$WF" --baseline "$PVT" > /dev/null  # from what is there
bring_back
echo "[gpu_check] done in $(( $(date +%s) - START ))s: $OUT_DIR/summary.md${OUT:+, packed into $OUT}"
