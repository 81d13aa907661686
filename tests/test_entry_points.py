"""One error style in every entry point: a known problem (bad option, missing file) is one line
``PROG: error: MESSAGE`` naming the option or file, exit status 2, no traceback.

The first case of each entry point runs the script as a user would (a subprocess from the repository root: the
exit status and stderr of a real process); the detection and segmentation tools that are the same few lines
around one ``run`` of wavemsa.mm (train, test, get_flops, convert_checkpoint) count as one entry point; an entry point
that another test file already runs as a process on a known problem (RUN_AS_PROCESS_ELSEWHERE) is not started
again. The other cases run the script in this process, as
``python SCRIPT ARGS`` would (``runpy`` with ``__name__ == "__main__"``, ``sys.argv`` and the working directory
set): the same code path to the same ``sys.exit`` status and stderr line, without starting an interpreter and
importing torch / OpenMMLab again for every message. The data, model and checkpoint problems of each task are
tested in its own test file; this file covers every entry point.
"""
from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DET_CFG = "object_detection/configs/demo/mask_rcnn_wavemsa_t_fpn_digits.py"
SEG_CFG = "semantic_segmentation/configs/demo/upernet_wavemsa_t_128x128_digits.py"
MISSING = "no/such/file.pth"

# (script or -m module, arguments, program name in the message, text the message must contain)
CASES = [
    ("datasets/make_classification.py", ["--size", "16"], "make_classification.py", "--size"),
    ("datasets/make_coco.py", ["--train", "0"], "make_coco.py", "--train"),
    ("datasets/make_ade20k.py", ["--num-val", "-1"], "make_ade20k.py", "--num-val"),
    ("datasets/make_ade20k.py", ["--out", "README.md"], "make_ade20k.py", "README.md"),
    ("datasets/make_coco.py", ["--out", "README.md"], "make_coco.py", "README.md"),
    ("image_classification/main.py", ["--batch-size", "0"], "main.py", "--batch-size"),
    ("image_classification/make_token_labels.py", ["no/such/data", "out", "--teacher", "wavemsa_t"],
     "make_token_labels.py", "no/such/data"),
    ("tools/complexity.py", ["--size", "16"], "complexity.py", "--size"),
    ("tools/complexity.py", ["--variants", "s,x"], "complexity.py", "--variants"),
    ("tools/benchmark.py", ["--batch-size", "0"], "benchmark.py", "--batch-size"),
    ("tools/export.py", ["wavemsa_t", "--checkpoint", MISSING], "export.py", MISSING),
    ("-m wavemsa.records", ["demo", "--metrics", MISSING, "--out", "x.json", "--command", "c"], "wavemsa.records",
     MISSING),
    ("object_detection/tools/train.py", ["no/such/config.py"], "train.py", "no/such/config.py"),
    ("object_detection/tools/test.py", [DET_CFG, MISSING], "test.py", MISSING),
    ("object_detection/tools/get_flops.py", [DET_CFG, "--shape", "0"], "get_flops.py", "--shape"),
    ("object_detection/tools/get_flops.py", [DET_CFG, "--cfg-options", "model.bakbone.arch=s"], "get_flops.py",
     "model.bakbone"),
    ("object_detection/tools/convert_checkpoint.py", [MISSING], "convert_checkpoint.py", MISSING),
    ("semantic_segmentation/tools/train.py", [SEG_CFG, "--pretrained", MISSING], "train.py", MISSING),
    ("semantic_segmentation/tools/test.py", ["no/such/config.py", MISSING], "test.py", "no/such/config.py"),
    ("semantic_segmentation/tools/get_flops.py", [SEG_CFG, "--shape", "-4"], "get_flops.py", "--shape"),
    ("semantic_segmentation/tools/convert_checkpoint.py", [MISSING], "convert_checkpoint.py", MISSING),
    ("semantic_segmentation/tools/benchmark.py", [SEG_CFG, "--num-images", "0"], "benchmark.py", "--num-images"),
    ("semantic_segmentation/tools/benchmark.py", [SEG_CFG, "--cfg-options", "model.bakbone.arch=s"], "benchmark.py",
     "model.bakbone"),
    # bad values of other kinds: unknown choices, output paths that are files or folders, config keys
    ("image_classification/main.py", ["--opt", "adamx"], "main.py", "--opt"),
    ("tools/benchmark.py", ["--device", "tpu"], "benchmark.py", "--device"),
    ("tools/export.py", ["wavemsa_t", "--out", "README.md"], "export.py", "--out"),
    ("object_detection/tools/get_flops.py", [DET_CFG, "--cfg-options", "model.backbone.arc=s"], "get_flops.py",
     "model.backbone: got an unexpected keyword argument 'arc'"),
    ("semantic_segmentation/tools/get_flops.py", [SEG_CFG, "--shape", "16"], "get_flops.py", "--shape"),
    ("object_detection/tools/test.py", [DET_CFG, "README.md", "--work-dir", "README.md"], "test.py", "--work-dir"),
    ("semantic_segmentation/tools/test.py", [SEG_CFG, "README.md", "--metrics-json", "tests"], "test.py",
     "--metrics-json"),
    ("semantic_segmentation/tools/convert_checkpoint.py", ["README.md", "tests"], "convert_checkpoint.py", "tests"),
    ("semantic_segmentation/tools/get_flops.py", [SEG_CFG, "--cfg-options", "train_cfg.max_iters"], "get_flops.py",
     "expected KEY=VALUE"),
]


def entry_point(script: str) -> str:
    """What runs behind ``script``: the module whose ``run`` a wrapper script calls, else the script itself."""
    if script.startswith("-m "):
        return script
    wrapped = re.search(r"^from (wavemsa\.mm\.\w+) import run$", (REPO / script).read_text(), re.MULTILINE)
    return wrapped.group(1) if wrapped else script


# entry points that another test file already runs as a process on a known problem (exit status 2, one line, no
# traceback): their cases here all run in this process
RUN_AS_PROCESS_ELSEWHERE = {
    "image_classification/main.py": "test_classification_runs.py::test_a_full_disk_during_a_checkpoint_save_is_"
                                    "one_line_and_keeps_the_previous_checkpoint",
    "wavemsa.mm.convert": "test_mmengine_checkpoint.py::test_an_mmengine_checkpoint_given_as_backbone_weights_is_"
                          "named_as_such",
}

# the first case of each entry point runs as a subprocess, the others in this process
AS_SUBPROCESS = [entry_point(script) not in [entry_point(c[0]) for c in CASES[:i]]
                 and entry_point(script) not in RUN_AS_PROCESS_ELSEWHERE for i, (script, *_) in enumerate(CASES)]


def run_subprocess(script: str, args: list[str]) -> tuple[int, str]:
    """``python SCRIPT ARGS`` (or ``python -m MODULE ARGS``) from the repository root: exit status and stderr."""
    proc = subprocess.run([sys.executable, *script.split(), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stderr


def run_in_process(script: str, args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    """What ``python SCRIPT ARGS`` does, in this process: the script (or ``-m`` module) run as ``__main__`` from
    the repository root with ``sys.argv`` and, for a script, its folder first on ``sys.path``; the status it
    exits with and its stderr. An exception other than ``SystemExit`` (a traceback for the user) fails the test."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "path", list(sys.path))
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        if script.startswith("-m "):
            module = script.split()[1]
            monkeypatch.setattr(sys, "argv", [module, *args])
            runpy.run_module(module, run_name="__main__", alter_sys=False)
        else:
            monkeypatch.setattr(sys, "argv", [script, *args])
            sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
            runpy.run_path(script, run_name="__main__")
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


@pytest.mark.parametrize("script, args, prog, names, subprocess_run", [(*c, s) for c, s in zip(CASES, AS_SUBPROCESS)],
                         ids=[f"{c[0].split('/')[-1]}:{c[1][-2] if len(c[1]) > 1 else c[1][0]}" for c in CASES])
def test_known_problem_is_one_line_naming_it_with_exit_status_2(script: str, args: list[str], prog: str,
                                                                 names: str, subprocess_run: bool, monkeypatch,
                                                                 capsys):
    if subprocess_run:
        code, stderr = run_subprocess(script, args)
    else:
        code, stderr = run_in_process(script, args, monkeypatch, capsys)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert code == 2, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert lines and lines[-1].startswith(f"{prog}: error: ") and names in lines[-1], lines[-3:]


def test_a_loader_workers_error_is_its_own_message_without_the_workers_traceback():
    from wavemsa.errors import InputError, own_message

    worker = ("Caught BadSegmentationData in DataLoader worker process 0.\nOriginal Traceback (most recent call "
              "last):\n  File \"data.py\", line 3, in transform\n    raise BadSegmentationData(msg)\n"
              "wavemsa_seg.data.BadSegmentationData: label map a.png holds ids [200] beyond the 11 classes\n")
    assert own_message(InputError(worker)) == "label map a.png holds ids [200] beyond the 11 classes"
    assert own_message(InputError("config: key: value")) == "config: key: value"


def test_long_lists_in_messages_are_cut_with_a_count():
    from wavemsa.errors import first_few

    assert first_few(["b", "a"]) == "b, a"
    assert first_few(["b", "a", "c"], 2, sort=True) == "a, b ... (+1 more)"
    assert first_few(range(7), 5) == "0, 1, 2, 3, 4 ... (+2 more)"


def test_run_records_write_the_command_as_typed_in_the_repository_root(monkeypatch):
    """A record's command names no machine-specific path: the interpreter is ``python`` and paths inside the
    repository are relative to it."""
    from wavemsa import records

    monkeypatch.setattr(sys, "argv", [str(records.REPO / "tools" / "benchmark.py"), "--out",
                                      str(records.REPO / "output" / "x"), "--record", "/elsewhere/r.json"])
    monkeypatch.setattr(sys.modules["__main__"], "__spec__", None, raising=False)
    assert records.command_line() == "python tools/benchmark.py --out output/x --record /elsewhere/r.json"
