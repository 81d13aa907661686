"""Classification trainer: checkpoints (safe types, atomic writes, checks against the model and the classes) and
fine-tuning from them."""
from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from classification_setup import digits

from image_classification import main as ic_main
from image_classification.checkpoint import read_checkpoint, save_atomic
from wavemsa.errors import InputError, run_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return digits(tmp_path_factory.mktemp("digits") / "digits")  # 20 train / 20 val images


def test_checkpoint_of_another_model_is_refused(tiny_data, tmp_path, capsys):
    import wavemsa  # noqa: F401

    model = timm.create_model("wavemsa_t", num_classes=10)
    ckpt = tmp_path / "t.pth"
    save_atomic({"model": model.state_dict(), "epoch": 0, "args": {"model": "wavemsa_t"}}, ckpt)
    assert set(read_checkpoint(ckpt)) == {"model", "epoch", "args"}
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away
    rc = run_main(ic_main.main, ["--model", "wavemsa_s", "--data-path", str(tiny_data), "--device", "cpu",
                       "--input-size", "32", "--batch-size", "4", "--eval", "--resume", str(ckpt),
                       "--num_workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert str(ckpt) in err and "wavemsa_t" in err and "wavemsa_s" in err


def test_corrupt_checkpoint_is_named(tiny_data, tmp_path, capsys):
    ckpt = tmp_path / "broken.pth"
    ckpt.write_bytes(b"\x00garbage")
    rc = run_main(ic_main.main, ["--model", "wavemsa_t", "--data-path", str(tiny_data), "--device", "cpu",
                       "--input-size", "32", "--batch-size", "4", "--eval", "--resume", str(ckpt),
                       "--num_workers", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and str(ckpt) in err and "Traceback" not in err


def test_checkpoint_round_trip_has_only_safe_types(tmp_path):
    from image_classification.seeding import rng_state, set_rng_state

    state = rng_state()
    save_atomic({"rng": state}, tmp_path / "r.pth")
    loaded = torch.load(tmp_path / "r.pth", weights_only=True)["rng"]
    a = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    set_rng_state(loaded)
    b = (torch.rand(3), __import__("numpy").random.rand(), __import__("random").random())
    assert torch.equal(a[0], b[0]) and a[1:] == b[1:]


def test_finetune_keeps_backbone_and_reinitialises_a_different_head():
    import wavemsa  # noqa: F401
    from image_classification.checkpoint import finetune_state, load_model_weights

    src = timm.create_model("wavemsa_t", num_classes=10)
    dst = timm.create_model("wavemsa_t", num_classes=5)
    state, dropped = finetune_state(dst, src.state_dict())
    assert dropped and all(k.startswith("head.") for k in dropped)
    head_before = {k: dst.state_dict()[k].clone() for k in dropped}
    load_model_weights(dst, state, "src.pth", "wavemsa_t", None, dropped)
    for k, v in src.state_dict().items():
        if k not in dropped:
            assert torch.equal(dst.state_dict()[k], v), k
    for k, v in head_before.items():
        assert torch.equal(dst.state_dict()[k], v)


def test_finetune_between_plain_and_token_label_models(tmp_path):
    """--finetune from a plain checkpoint into a token-labelling model keeps the backbone and head and starts
    the auxiliary head new; the other way round the auxiliary head is left out."""
    import wavemsa  # noqa: F401
    from image_classification.checkpoint import load_finetune

    plain = timm.create_model("wavemsa_t", num_classes=10)
    tl = timm.create_model("wavemsa_t", num_classes=10, token_label=True)
    save_atomic({"model": plain.state_dict()}, tmp_path / "plain.pth")
    save_atomic({"model": tl.state_dict(), "args": {"model": "wavemsa_t"}}, tmp_path / "tl.pth")
    student = timm.create_model("wavemsa_t", num_classes=10, token_label=True)
    aux_before = student.aux_head.weight.clone()
    assert load_finetune(student, tmp_path / "plain.pth", "wavemsa_t") == ("aux_head.bias", "aux_head.weight")
    assert torch.equal(student.head.weight, plain.head.weight) and torch.equal(student.aux_head.weight, aux_before)
    back = timm.create_model("wavemsa_t", num_classes=10)
    assert load_finetune(back, tmp_path / "tl.pth", "wavemsa_t") == ("aux_head.bias", "aux_head.weight")
    assert all(torch.equal(v, tl.state_dict()[k]) for k, v in back.state_dict().items())


def test_finetune_from_a_timm_model_folder_or_safetensors_file(tmp_path):
    """--finetune reads what tools/export.py hands out (timm's save_for_hf folder) and a bare .safetensors
    file; a classifier of another class count starts new, and a folder of another model is named."""
    from timm.models import save_for_hf

    import wavemsa  # noqa: F401
    from image_classification.checkpoint import load_finetune

    src = timm.create_model("wavemsa_t", num_classes=10)
    save_for_hf(src, str(tmp_path / "folder"), safe_serialization=True)
    for path in (tmp_path / "folder", tmp_path / "folder" / "model.safetensors"):
        student = timm.create_model("wavemsa_t", num_classes=5)
        assert load_finetune(student, path, "wavemsa_t") == ("head.bias", "head.weight")
        theirs = src.state_dict()
        assert all(torch.equal(v, theirs[k]) for k, v in student.state_dict().items() if not k.startswith("head."))
    with pytest.raises(InputError, match=r"folder' does not fit model 'wavemsa_s' \(it was written for model "
                                         r"'wavemsa_t'\)"):
        load_finetune(timm.create_model("wavemsa_s", num_classes=10), tmp_path / "folder", "wavemsa_s")
    with pytest.raises(InputError, match="without model.safetensors"):
        load_finetune(src, tmp_path, "wavemsa_t")


def test_eval_and_resume_refuse_a_checkpoint_of_other_class_names(tiny_data, tmp_path, capsys):
    """Class folders of other names but the same count: index i would mean another class."""
    import shutil

    data = tmp_path / "renamed"
    shutil.copytree(tiny_data, data)
    for split in ("train", "val"):
        for c in sorted((data / split).iterdir()):
            c.rename(c.with_name(f"c{c.name}"))
    ckpt = tmp_path / "ckpt.pth"
    save_atomic({"model": timm.create_model("wavemsa_t", num_classes=10).state_dict(),
                 "classes": [str(c) for c in range(10)], "args": {"model": "wavemsa_t"}}, ckpt)
    base = ["--model", "wavemsa_t", "--input-size", "32", "--device", "cpu", "--num_workers", "0", "--batch-size", "4"]
    for extra in (["--eval"], []):
        assert run_main(ic_main.main, [*base, "--data-path", str(data), "--resume", str(ckpt), *extra]) == 2
        err = capsys.readouterr().err
        assert f"checkpoint '{ckpt}' was trained on 10 classes that differ from the 10 class folders" in err, err
