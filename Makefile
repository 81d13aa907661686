# WaveMSA — two commands do everything on a fresh machine:
#   make demo   set up, build the built-in data, train + evaluate a small WaveFormer on the CPU
#   make test   set up and run the test suite
# `make install` does only the set-up (core stack + OpenMMLab stack with a compiled, cached mmcv).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

CORE_STAMP := $(VENV)/.core-installed
MM_STAMP   := $(VENV)/.mm-installed

.PHONY: install install-core install-mm test test-fast demo demo-det demo-seg data lint complexity benchmark profile \
	gpu-check clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(CORE_STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install --no-deps --no-build-isolation -e .
	touch $@

$(MM_STAMP): requirements-mm.txt tools/install_openmmlab.sh $(CORE_STAMP)
	bash tools/install_openmmlab.sh $(PY)
	touch $@

install-core: $(CORE_STAMP)
install-mm: $(MM_STAMP)
install: install-core install-mm

test: install
	$(PY) -m pytest -q tests

test-fast: install-core
	$(PY) -m pytest -q -m "not slow" tests

lint: install-core
	$(BIN)/ruff check .

complexity: install-core
	$(PY) tools/complexity.py

# Speed, side by side in one process (see tools/README_benchmark.md): WaveFormer-S (fused for inference)
# vs PVTv2-B2 vs the published formulation at 224, batch 16, 2 threads, float32 and bfloat16 autocast rows
# (outputs compared with float32); the backbone scaling study; the first table again with an allocator that
# keeps freed memory (allocator-independent ratios). Writes output/benchmark/{main,scaling,main-malloc-keep}
# .{json,md}, their run records (*.record.json) and asset/benchmark_*.png. Takes ~45 min on 2 cores.
benchmark: install-core
	$(PY) tools/benchmark.py --models wavemsa_s pvt_v2_b2 wavemsa_s:reference --batch-size 16 --threads 2 \
		--dtype float32 bfloat16 --warmup 1 --repeats 3 --check --memory --plot --out output/benchmark/main \
		--record output/benchmark/main.record.json
	$(PY) tools/benchmark.py --models wavemsa_s pvt_v2_b2 swin_tiny_patch4_window7_224 --backbone-only \
		--modes infer --img-size 224 384 512 800x1344 --batch-size 1 --threads 2 --warmup 1 --repeats 3 \
		--memory --plot --plot-prefix benchmark_backbone --out output/benchmark/scaling \
		--record output/benchmark/scaling.record.json
	$(PY) tools/benchmark.py --models wavemsa_s pvt_v2_b2 wavemsa_s:reference --batch-size 16 --threads 2 \
		--warmup 1 --repeats 3 --check --malloc keep --out output/benchmark/main-malloc-keep \
		--record output/benchmark/main-malloc-keep.record.json

# Where the time goes: per-part / per-kernel profile of one training and one inference step, WaveFormer-S vs
# PVTv2-B2, batch 16, 224, 2 threads, float32 then bfloat16 autocast (tools/profile_step.py). Writes
# output/profile/cpu_{float32,bfloat16}.{json,md,png} and their run records. Takes ~5 min on 2 cores.
profile: install-core
	$(PY) tools/profile_step.py --models wavemsa_s pvt_v2_b2 --batch-size 16 --threads 2 --dtype float32 \
		--out output/profile/cpu_float32 --record output/profile/cpu_float32.record.json
	$(PY) tools/profile_step.py --models wavemsa_s pvt_v2_b2 --batch-size 16 --threads 2 --dtype bfloat16 \
		--out output/profile/cpu_bfloat16 --record output/profile/cpu_bfloat16.record.json

# The prepared GPU run (one CUDA GPU, ~8 min): benchmark, profile and equivalence checks under output/gpu_check/
# (or $OUT); `bash tools/gpu_check.sh --smoke` runs it shortened on the CPU.
gpu-check: install-core
	PYTHON=$(PY) bash tools/gpu_check.sh

# Detection demo: Mask R-CNN + WaveFormer-T on the built-in COCO-format digit scenes, on the CPU;
# starts from the classification demo's checkpoint when output/demo/best.pth exists.
DET_DATA := datasets/builtin/coco_digits/annotations/instances_val.json
DET_DEMO := object_detection/configs/demo/mask_rcnn_wavemsa_t_fpn_digits.py

$(DET_DATA): datasets/make_coco.py datasets/digit_scenes.py | $(MM_STAMP)
	$(PY) datasets/make_coco.py

demo-det: $(MM_STAMP) $(DET_DATA)
	$(PY) object_detection/train.py $(DET_DEMO) --work-dir output/demo-det \
		$$([ -f output/demo/best.pth ] && echo --pretrained output/demo/best.pth)
	$(PY) object_detection/test.py $(DET_DEMO) "$$(cat output/demo-det/last_checkpoint)" \
		--work-dir output/demo-det --metrics-json output/demo-det/metrics.json

# Segmentation demo: UperNet + WaveFormer-T on the built-in ADE20K-format digit scenes, on the CPU;
# the config starts from output/demo/best.pth when it exists. output/demo-seg/ gets metrics.json
# (mIoU, aAcc, mAcc), training_curves.png and a few predictions painted over their inputs (PNG).
SEG_DATA := datasets/builtin/ADEChallengeData2016/build.json
SEG_DEMO := semantic_segmentation/configs/demo/upernet_wavemsa_t_128x128_digits.py

$(SEG_DATA): datasets/make_ade20k.py datasets/digit_scenes.py | $(MM_STAMP)
	$(PY) datasets/make_ade20k.py

demo-seg: $(MM_STAMP) $(SEG_DATA)
	$(PY) semantic_segmentation/tools/train.py $(SEG_DEMO) --work-dir output/demo-seg
	$(PY) semantic_segmentation/tools/test.py $(SEG_DEMO) "$$(cat output/demo-seg/last_checkpoint)" \
		--work-dir output/demo-seg --show-dir output/demo-seg

# Classification demo: WaveFormer-T on the built-in digits, trained then evaluated on the CPU with
# image_classification/main.py; output/demo/ holds log.txt, curves.png, tensorboard/, checkpoint.pth,
# best.pth (the detection/segmentation demos start from it) and eval.json. Re-running resumes.
DEMO_CFG  := image_classification/configs/wavemsa/wavemsa_t_demo.py
DEMO_DATA := datasets/builtin/digits

CLS_DATA  := $(DEMO_DATA)/dataset.json

$(CLS_DATA): datasets/make_classification.py datasets/digit_scenes.py | $(CORE_STAMP)
	$(PY) datasets/make_classification.py --out $(DEMO_DATA)

demo: $(CORE_STAMP) $(CLS_DATA)
	$(PY) image_classification/main.py --config $(DEMO_CFG) --data-path $(DEMO_DATA) --output_dir output/demo \
		--auto-resume
	$(PY) image_classification/main.py --config $(DEMO_CFG) --data-path $(DEMO_DATA) --output_dir output/demo \
		--eval --resume output/demo/best.pth

clean:
	rm -rf output work_dirs .pytest_cache
