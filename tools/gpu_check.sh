#!/usr/bin/env bash
# Speed on one CUDA GPU: WaveFormer-S (unfused and fused) vs PVTv2-B2, float16 autocast, batch 64, 224x224,
# inference and training; eager (with --check, --ops and --profile), compiled (inductor) and compiled with CUDA
# graphs (--compile-mode reduce-overhead). Each run's report (.json, .md), run record and log go to one folder,
# GPU_CHECK_DIR (default output/gpu_check); summary.md collects the tables. When OUT is set, summary.md, the run
# records and the logs are copied there after every run, so a run cut short still leaves what it finished.
# GPU_CHECK_RUNS="eager compiled" runs only those (e.g. to split the check over two calls of limited length).
#
#   bash tools/gpu_check.sh            on a machine with a CUDA GPU (PYTHON: the interpreter, default python3)
#   bash tools/gpu_check.sh --smoke    the same runs shortened on the CPU: tiny models, 64x64, batch 2, one thread,
#                                      compiled with the eager backend (no code generation), no CUDA graphs
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
DIR=${GPU_CHECK_DIR:-output/gpu_check}
if [[ "${1:-}" == "--smoke" ]]; then
    COMMON=(--models wavemsa_t wavemsa_t:fused pvt_v2_b0 --device cpu --threads 1 --img-size 64 --batch-size 2
            --num-classes 10 --warmup 1 --repeats 1)
    RUNS=("eager --check --ops --profile --profile-steps 1" "compiled --compile --compile-backend eager --check")
else
    COMMON=(--models wavemsa_s wavemsa_s:fused pvt_v2_b2 --device cuda --dtype float16 --batch-size 64
            --warmup 3 --repeats 10)
    RUNS=("eager --check --ops --profile" "compiled --compile --check"
          "cuda-graphs --compile-mode reduce-overhead --check")
fi
mkdir -p "$DIR"
failed=0
for run in "${RUNS[@]}"; do
    read -r -a opts <<< "$run"
    name=${opts[0]}
    [[ " ${GPU_CHECK_RUNS:-${name}} " == *" $name "* ]] || continue
    rm -f "$DIR/$name".{json,md,record.json,log}
    echo "[gpu_check] $name: python tools/benchmark.py ${COMMON[*]} ${opts[*]:1}"
    if ! "$PY" tools/benchmark.py "${COMMON[@]}" "${opts[@]:1}" --out "$DIR/$name" \
            --record "$DIR/$name.record.json" > "$DIR/$name.log" 2>&1; then
        echo "[gpu_check] $name failed (log: $DIR/$name.log):"
        tail -n 5 "$DIR/$name.log"
        failed=1
    fi
    cat "$DIR"/{eager,compiled,cuda-graphs}.md > "$DIR/summary.md" 2> /dev/null
    if [[ -n "${OUT:-}" ]]; then
        mkdir -p "$OUT" && cp "$DIR"/summary.md "$DIR"/*.record.json "$DIR"/*.log "$OUT"/ 2> /dev/null
    fi
done
echo "[gpu_check] done: $DIR/summary.md${OUT:+, copied to $OUT}"
exit $failed
