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

.PHONY: install install-core install-mm test test-fast test-timm demo demo-tl demo-det demo-seg data lint complexity \
	benchmark profile gpu-check clean

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

# The suite runs in TEST_WORKERS processes (pytest-xdist; tests/conftest.py shares the cores' threads out among
# them): `make test TEST_WORKERS=auto` takes one per core, TEST_WORKERS=0 runs it in this process. Tests that share
# an expensive set-up are kept on one worker (xdist_group); distributed runs take free ports.
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadgroup

test: install
	$(PY) -m pytest -q $(XDIST) tests
	$(PY) tools/timm_tests.py -n $(TEST_WORKERS)

# timm's own tests/test_models.py (from the installed timm's source release, downloaded once into
# ~/.cache/wavemsa/timm) on every wavemsa_* model: pytest tests/test_models.py -k wavemsa
test-timm: install-core
	$(PY) tools/timm_tests.py -n $(TEST_WORKERS)

# everything but the tests marked slow (each of those takes over ~20 s on 2 cores)
test-fast: install-core
	$(PY) -m pytest -q $(XDIST) -m "not slow" tests

lint: install-core
	$(BIN)/ruff check .

complexity: install-core
	$(PY) tools/complexity.py

# Speed (docs/speed.md): WaveFormer-S (unfused and fused) vs PVTv2-B2 interleaved in one process, CPU, 2 threads,
# batch 16, 224x224, float32, eager, under the project's allocator set-up, then under glibc's defaults. Writes
# output/benchmark/cpu-{keep,default}.{json,md,png} and their run records (*.record.json).
BENCH := $(PY) tools/benchmark.py --models wavemsa_s wavemsa_s:fused pvt_v2_b2 --threads 2 --batch-size 16

benchmark: install-core
	$(BENCH) --repeats 7 --check --out output/benchmark/cpu-keep --plot \
		--record output/benchmark/cpu-keep.record.json
	WAVEMSA_CPU_ALLOCATOR=default $(BENCH) --repeats 7 --out output/benchmark/cpu-default --plot \
		--record output/benchmark/cpu-default.record.json

# Operators per training and inference step (batch 2) and where one step's time goes (torch.profiler, batch 16,
# one thread: no part's self time includes waiting for a second core): output/benchmark/{ops,profile}.{json,md}
# and their run records.
profile: install-core
	$(BENCH) --batch-size 2 --warmup 0 --repeats 0 --ops --out output/benchmark/ops --plot \
		--record output/benchmark/ops.record.json
	$(PY) tools/benchmark.py --models wavemsa_s pvt_v2_b2 --threads 1 --batch-size 16 --repeats 0 --profile \
		--out output/benchmark/profile --record output/benchmark/profile.record.json

# The speed check on one CUDA GPU (eager, compiled, CUDA graphs; fp16, batch 64) into output/gpu_check/;
# `bash tools/gpu_check.sh --smoke` runs it shortened on the CPU.
gpu-check: install-core
	PYTHON=$(PY) bash tools/gpu_check.sh

# Detection demo: Mask R-CNN + WaveFormer-T on the built-in COCO-format digit scenes, on the CPU;
# starts from the classification demo's checkpoint when output/demo/best.pth exists. output/demo-det/ gets
# metrics.json (coco/bbox_mAP, coco/bbox_mAP_50, coco/segm_mAP, ...), training_curves.png and record.json
# (the run record: commit, machine, wall time, metrics).
DET_DATA := datasets/builtin/coco_digits/annotations/instances_val.json
DET_DEMO := object_detection/configs/demo/mask_rcnn_wavemsa_t_fpn_digits.py

$(DET_DATA): datasets/make_coco.py datasets/digit_scenes.py | $(MM_STAMP)
	$(PY) datasets/make_coco.py

demo-det: $(MM_STAMP)
	@mkdir -p output/demo-det && date +%s > output/demo-det/started
	$(MAKE) --no-print-directory $(DET_DATA)
	$(PY) object_detection/tools/train.py $(DET_DEMO) --work-dir output/demo-det \
		$$([ -f output/demo/best.pth ] && echo --pretrained output/demo/best.pth)
	$(PY) object_detection/tools/test.py $(DET_DEMO) "$$(cat output/demo-det/last_checkpoint)" \
		--work-dir output/demo-det --metrics-json output/demo-det/metrics.json
	$(PY) -m wavemsa.records demo-det --metrics output/demo-det/metrics.json --out output/demo-det/record.json \
		--started "$$(cat output/demo-det/started)" --command "make demo-det"

# Segmentation demo: UperNet + WaveFormer-T on the built-in ADE20K-format digit scenes (background + ten
# digit classes), on the CPU; the config starts from output/demo/best.pth when it exists. output/demo-seg/
# gets metrics.json (mIoU, aAcc, mAcc), training_curves.png, a few predictions painted over their inputs
# (PNG) and record.json.
SEG_DATA := datasets/builtin/ADEChallengeData2016/build.json
SEG_DEMO := semantic_segmentation/configs/demo/upernet_wavemsa_t_128x128_digits.py

$(SEG_DATA): datasets/make_ade20k.py datasets/digit_scenes.py | $(MM_STAMP)
	$(PY) datasets/make_ade20k.py

demo-seg: $(MM_STAMP)
	@mkdir -p output/demo-seg && date +%s > output/demo-seg/started
	$(MAKE) --no-print-directory $(SEG_DATA)
	$(PY) semantic_segmentation/tools/train.py $(SEG_DEMO) --work-dir output/demo-seg
	$(PY) semantic_segmentation/tools/test.py $(SEG_DEMO) "$$(cat output/demo-seg/last_checkpoint)" \
		--work-dir output/demo-seg --show-dir output/demo-seg
	$(PY) -m wavemsa.records demo-seg --metrics output/demo-seg/metrics.json --out output/demo-seg/record.json \
		--started "$$(cat output/demo-seg/started)" --command "make demo-seg"

# Classification demo: WaveFormer-T on the built-in digits, trained then evaluated on the CPU with
# image_classification/main.py; output/demo/ holds log.txt, curves.png, tensorboard/, checkpoint.pth,
# best.pth (the detection/segmentation demos start from it), eval.json, per_class.{json,png} and
# record.json (the run record of the figures quoted in the README). Re-running resumes.
DEMO_CFG  := image_classification/configs/wavemsa/wavemsa_t_demo.py
DEMO_DATA := datasets/builtin/digits

CLS_DATA  := $(DEMO_DATA)/dataset.json

$(CLS_DATA): datasets/make_classification.py datasets/digit_scenes.py | $(CORE_STAMP)
	$(PY) datasets/make_classification.py --out $(DEMO_DATA)

demo: $(CORE_STAMP) $(CLS_DATA)
	@mkdir -p output/demo && date +%s > output/demo/.started
	@set -e; \
	$(PY) image_classification/main.py --config $(DEMO_CFG) --data-path $(DEMO_DATA) --output_dir output/demo \
		--auto-resume; \
	$(PY) image_classification/main.py --config $(DEMO_CFG) --data-path $(DEMO_DATA) --output_dir output/demo \
		--eval --resume output/demo/best.pth; \
	$(PY) -m wavemsa.records demo --metrics output/demo/eval.json --out output/demo/record.json \
		--started $$(cat output/demo/.started) --command "make demo"

# Token-labelling demo: label maps for the built-in digits made by the classification demo's checkpoint as
# teacher (make demo runs first when output/demo/best.pth is missing), then a WaveFormer-T student trained
# with token labelling (aux head, MixToken, the originals' loss) and evaluated, all on the CPU. output/demo-tl/
# holds labels/ (one label map per training image, labels/meta.json), the run's files as output/demo/ and
# record.json. Re-running resumes both the label maps and the training. The student trains the first
# DEMO_TL_EPOCHS epochs of its 12-epoch schedule (6: make demo + make demo-tl within 15 min on 2 cores; the
# plain demo's top-1 after as many epochs of the same schedule is in its record); `make demo-tl
# DEMO_TL_EPOCHS=12` continues it to the end.
DEMO_TL_CFG := image_classification/configs/wavemsa/wavemsa_t_demo_tl.py
DEMO_TL_EPOCHS ?= 6

demo-tl: $(CORE_STAMP) $(CLS_DATA)
	@mkdir -p output/demo-tl && date +%s > output/demo-tl/.started
	[ -f output/demo/best.pth ] || $(MAKE) demo
	@set -e; \
	$(PY) image_classification/make_token_labels.py $(DEMO_DATA)/train output/demo-tl/labels --teacher wavemsa_t \
		--teacher-checkpoint output/demo/best.pth --img-size 32 --topk 10 --device cpu --workers 1; \
	$(PY) image_classification/main.py --config $(DEMO_TL_CFG) --data-path $(DEMO_DATA) \
		--output_dir output/demo-tl --auto-resume --stop-epoch $(DEMO_TL_EPOCHS); \
	$(PY) image_classification/main.py --config $(DEMO_TL_CFG) --data-path $(DEMO_DATA) \
		--output_dir output/demo-tl --eval --resume output/demo-tl/best.pth; \
	$(PY) -m wavemsa.records demo-tl --metrics output/demo-tl/eval.json --out output/demo-tl/record.json \
		--started $$(cat output/demo-tl/.started) --command "make demo-tl"

clean:
	rm -rf output work_dirs .pytest_cache
