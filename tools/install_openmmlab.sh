#!/usr/bin/env bash
# Install the OpenMMLab stack (mmengine, mmcv with compiled ops, mmdet, mmsegmentation) into the
# environment of PYTHON, pinned by requirements-mm.txt. Run by `make install`.
#
#   bash tools/install_openmmlab.sh [PYTHON]          (default: python3)
#
# mmcv 2.1.0 is published as source only. It is built once per machine with its compiled ops
# (MMCV_WITH_OPS=1, --no-build-isolation, against the torch already installed) and the wheel is
# cached under ${WAVEMSA_WHEEL_CACHE:-~/.cache/wavemsa/wheels}/<mmcv, torch, python, platform>/;
# later installs on the machine reuse it. Two fixes make the published source build with torch 2.14:
#   - its setup.py imports pkg_resources, which setuptools>=81 no longer ships (we pin 80.10.2);
#   - it compiles with -std=c++17, torch 2.14's headers need C++20 (we patch the flag).
# torch/torchvision are held at their installed versions. The script ends by running nms and
# RoIAlign on the CPU, importing mmdet/mmseg (which assert their supported mmcv range) and the project's
# plug-ins wavemsa_det / wavemsa_seg (installed with the library by `pip install -e .`, pyproject.toml).
set -euo pipefail

PY=$(command -v "${1:-python3}") || { echo "install_openmmlab: no python '${1:-python3}'" >&2; exit 1; }
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REQ="$ROOT/requirements-mm.txt"
BIN=$(dirname "$PY")
export PATH="$BIN:$PATH"          # the venv's ninja drives the parallel C++ build
export PIP_DISABLE_PIP_VERSION_CHECK=1

log() { echo "[install_openmmlab] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }
pin() {  # the exact version requirements-mm.txt pins for package $1
    local v
    v=$(sed -n "s/^$1==\([^[:space:]#]*\).*/\1/p" "$REQ" | head -n 1)
    [ -n "$v" ] || die "$REQ has no '$1==VERSION' line"
    echo "$v"
}
[ -f "$REQ" ] || die "missing $REQ"
MMCV_VERSION=$(pin mmcv)
"$PY" -c "import torch" 2>/dev/null || die "torch is not importable by $PY: run the core install first"

# 1. Build tools, and a constraints file that keeps torch/torchvision as installed.
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
"$PY" - >"$WORK/constraints.txt" <<'EOF'
import importlib.metadata as md
for name in ("torch", "torchvision"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
EOF
log "holding: $(tr '\n' ' ' <"$WORK/constraints.txt")"
"$PY" -m pip install -c "$WORK/constraints.txt" "setuptools==$(pin setuptools)" "ninja==$(pin ninja)"

# 2. The mmcv wheel: from the cache, or built now.
read -r KEY WITH_CUDA < <("$PY" - "$MMCV_VERSION" <<'EOF'
import os, sys, sysconfig
import torch
cuda = torch.cuda.is_available() or os.getenv("FORCE_CUDA", "0") == "1"
tag = f"py{sys.version_info.major}{sys.version_info.minor}-{sysconfig.get_platform()}"
key = f"mmcv-{sys.argv[1]}_torch-{torch.__version__}_{tag}_{'cuda' if cuda else 'cpu'}"
print(key.replace("+", "_"), int(cuda))
EOF
)
CACHE="${WAVEMSA_WHEEL_CACHE:-$HOME/.cache/wavemsa/wheels}/$KEY"
if compgen -G "$CACHE/mmcv-$MMCV_VERSION-*.whl" >/dev/null; then
    log "reusing cached mmcv wheel: $(ls "$CACHE"/mmcv-"$MMCV_VERSION"-*.whl)"
else
    JOBS=$(nproc 2>/dev/null || echo 2)
    log "building mmcv $MMCV_VERSION with ops (cuda=$WITH_CUDA, MAX_JOBS=$JOBS); about 12 min on 2 cores"
    start=$(date +%s)
    "$PY" -m pip download --no-deps --no-binary mmcv --no-build-isolation -d "$WORK" "mmcv==$MMCV_VERSION"
    tar -xzf "$WORK/mmcv-$MMCV_VERSION.tar.gz" -C "$WORK"
    SRC="$WORK/mmcv-$MMCV_VERSION"
    grep -q -- '-std=c++17' "$SRC/setup.py" || die "$SRC/setup.py has no -std=c++17 flag to patch"
    sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
    MMCV_WITH_OPS=1 MAX_JOBS=$JOBS "$PY" -m pip wheel -v --no-deps --no-build-isolation -w "$WORK/dist" "$SRC"
    WHEEL=$(ls "$WORK"/dist/mmcv-"$MMCV_VERSION"-*.whl) || die "the mmcv build produced no wheel"
    mkdir -p "$CACHE"
    cp "$WHEEL" "$CACHE/.$(basename "$WHEEL").tmp"
    mv -f "$CACHE/.$(basename "$WHEEL").tmp" "$CACHE/$(basename "$WHEEL")"   # atomic: never a partial wheel
    log "built and cached $CACHE/$(basename "$WHEEL") in $(( ($(date +%s) - start) / 60 )) min"
fi

# 3. Everything pinned in requirements-mm.txt, mmcv from the cached wheel only.
"$PY" -m pip install -c "$WORK/constraints.txt" --find-links "$CACHE" --only-binary mmcv -r "$REQ"

# 4. Check: compiled ops run on the CPU, the frameworks accept this mmcv, torch was not replaced.
"$PY" - "$WORK/constraints.txt" <<'EOF' || die "the OpenMMLab stack does not work (see the traceback above)"
import importlib.metadata as md
import sys

import torch
import mmcv
import mmcv.ops
from mmcv.ops import RoIAlign, nms

boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]], dtype=torch.float32)
_, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
assert keep.tolist() == [0, 2], f"mmcv.ops.nms kept {keep.tolist()}, expected [0, 2]"
feat = torch.arange(16.0).view(1, 1, 4, 4)
out = RoIAlign((1, 1), spatial_scale=1.0, sampling_ratio=1, aligned=False)(feat, torch.tensor([[0, 1, 1, 2, 2.0]]))
assert torch.allclose(out.flatten(), torch.tensor([7.5])), f"mmcv.ops.RoIAlign gave {out.flatten().tolist()}"
import mmdet  # noqa: E402  (asserts mmcv_minimum_version <= mmcv < mmcv_maximum_version)
import mmengine  # noqa: E402
import mmseg  # noqa: E402  (asserts MMCV_MIN <= mmcv < MMCV_MAX)

try:
    import wavemsa_det  # noqa: E402,F401  (what every detection config imports)
    import wavemsa_seg  # noqa: E402,F401  (what every segmentation config imports)
except ModuleNotFoundError as err:
    sys.exit(f"{err.name} is not installed: run `pip install -e .` at the repository root (make install-core)")

for line in open(sys.argv[1]):
    name, version = line.strip().split("==")
    assert md.version(name) == version, f"{name} changed to {md.version(name)} (was {version})"
print(f"OpenMMLab OK: torch {torch.__version__}, mmcv {mmcv.__version__} (ops compiled), "
      f"mmengine {mmengine.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}")
EOF
