"""Classification trainer: config files and options (parsed and checked before anything runs)."""
from __future__ import annotations

from pathlib import Path

import pytest
import timm
from classification_setup import CONFIGS, ROOT, TINY_RUN, digits, parse

from image_classification import main as ic_main
from image_classification.options import changed_options, describe_changes
from wavemsa.errors import InputError, run_main


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> Path:
    return digits(tmp_path_factory.mktemp("digits") / "digits")  # 20 train / 20 val images


@pytest.mark.parametrize("variant,drop_path,clip_grad", [("s", 0.1, None), ("b", 0.1, None), ("l", 0.3, 1.0)])
def test_config_applies_over_defaults(variant, drop_path, clip_grad):
    args = parse(["--config", str(CONFIGS / f"wavemsa_{variant}.py")])
    assert (args.model, args.drop_path, args.clip_grad) == (f"wavemsa_{variant}", drop_path, clip_grad)
    assert args.output_dir == f"checkpoints/wavemsa_{variant}"
    assert args.epochs == 310 and args.lr == 5e-4 and args.token_label and args.crop_pct == 0.96
    assert not args.model_ema and args.mixup == 0 and args.cutmix == 0
    import wavemsa  # noqa: F401

    assert timm.is_model(args.model)


def test_command_line_wins_over_config():
    args = parse(["--config", str(CONFIGS / "wavemsa_l.py"), "--drop-path", "0.2", "--output_dir", "x"])
    assert args.drop_path == 0.2 and args.output_dir == "x" and args.clip_grad == 1.0


def test_unknown_config_key_is_named(tmp_path, capsys):
    cfg = tmp_path / "bad.py"
    cfg.write_text("model = 'wavemsa_t'\ndrop_pth = 0.1\n")
    with pytest.raises(InputError, match="drop_pth"):
        parse(["--config", str(cfg)])
    assert run_main(ic_main.main, ["--config", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "drop_pth" in err and str(cfg) in err and "Traceback" not in err


@pytest.mark.parametrize("flag", [["--local-rank=1"], ["--local_rank", "1"]])
def test_legacy_launcher_local_rank_argument_is_accepted(flag):
    """torch.distributed.launch without --use_env appends --local-rank=N (older torch: --local_rank N)."""
    assert parse(flag).local_rank == 1


@pytest.mark.parametrize("argv,option", [
    (["--batch-size", "0"], "--batch-size"), (["--epochs", "-2"], "--epochs"), (["--input-size", "0"], "--input-size"),
    (["--lr", "0"], "--lr"), (["--crop-pct", "1.5"], "--crop-pct"), (["--smoothing", "2"], "--smoothing"),
    (["--num_workers", "-1"], "--num_workers"), (["--drop-path", "-0.1"], "--drop-path"),
    (["--scale", "0.5", "2"], "--scale"), (["--token-label-size", "0"], "--token-label-size"),
    (["--config", "no_such_config.py"], "--config"), (["--opt", "adamx"], "--opt"), (["--sched", "foo"], "--sched"),
    (["--aa", "bogus"], "--aa"), (["--device", "tpu"], "--device"), (["--opt-betas", "0.9"], "--opt-betas"),
    (["--output_dir", str(ROOT / "README.md")], "--output_dir")])
def test_bad_option_values_are_refused_when_parsed(argv, option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and f"argument {option}" in err and "Traceback" not in err


def test_bad_config_values_and_cross_option_problems_are_named(tiny_data, tmp_path, capsys):
    cfg = tmp_path / "bad.py"
    cfg.write_text("batch_size = 0\n")
    with pytest.raises(InputError, match=r"bad\.py': batch_size = 0: must be a positive integer"):
        parse(["--config", str(cfg)])
    cfg.write_text("train_interpolation = 'cubic'\n")
    with pytest.raises(InputError, match="train_interpolation = 'cubic': expected one of"):
        parse(["--config", str(cfg)])
    for text, message in [("model_ema = 'no'\n", "model_ema = 'no': expected True or False"),
                          ("eval = 'false'\n", "eval = 'false': expected True or False"),
                          ("_base_ = 5\n", "_base_ = 5: expected a path or a list of paths"),
                          ("help = 3\n", r"unknown key\(s\) 'help'")]:
        cfg.write_text(text)
        with pytest.raises(InputError, match=message):
            parse(["--config", str(cfg)])
    cfg.write_text("model_ema = True\nopt_betas = (0.9, 0.95)\naa = 'original'\n")
    args = parse(["--config", str(cfg)])
    assert args.model_ema is True and list(args.opt_betas) == [0.9, 0.95] and args.aa == "original"
    base = ["--model", "wavemsa_t", "--data-path", str(tiny_data), "--device", "cpu", "--num_workers", "0"]
    for extra, message in [(["--input-size", "16"], "--input-size 16 is below 32"),
                           (["--scale", "0.9", "0.5"], "--scale 0.9 0.5: the minimum is above the maximum"),
                           (["--eval"], "--eval needs --resume"),
                           (["--token-label-data", str(tmp_path)], "is read only with --token-label")]:
        assert run_main(ic_main.main, base + extra, prog="main.py") == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err


def test_configs_build_on_base_files(tmp_path):
    """The recipes live once in configs/_base_/; a config overrides its base's values; a loop is refused."""
    from image_classification.config import load_config

    s384 = parse(["--config", str(CONFIGS / "wavemsa_s_384.py")])
    assert (s384.input_size, s384.token_label_size, s384.lr, s384.epochs) == (384, 12, 5e-6, 30)
    assert s384.token_label and s384.crop_pct == 0.96 and s384.model == "wavemsa_s"  # from wavemsa_s.py's base
    deit = parse(["--config", str(CONFIGS / "wavemsa_b_deit.py")])
    assert (deit.model, deit.mixup, deit.crop_pct, deit.model_ema, deit.token_label) == ("wavemsa_b", 0.8, 0.875,
                                                                                          True, False)
    (tmp_path / "a.py").write_text("_base_ = 'b.py'\nlr = 1.0\n")
    (tmp_path / "b.py").write_text("_base_ = ['a.py']\n")
    with pytest.raises(InputError, match="includes itself through _base_"):
        load_config(tmp_path / "a.py")


def test_compile_modes_are_checked_before_anything_runs(tiny_data, capsys):
    """A CUDA-graphs mode on the CPU, a mode or backend without --compile, or a mode with a backend other than
    inductor, is one line; the CPU modes are accepted."""
    base = [*TINY_RUN, "--data-path", str(tiny_data)]
    for extra, message in [(["--compile", "--compile-mode", "reduce-overhead"],
                            "--compile-mode reduce-overhead replays the training step as CUDA graphs, which need a "
                            "CUDA device"),
                           (["--compile", "--compile-mode", "max-autotune"], "--compile-mode max-autotune replays"),
                           (["--compile-mode", "max-autotune-no-cudagraphs"], "is a mode of --compile; add --compile"),
                           (["--compile-backend", "aot_eager"], "is a backend of --compile; add --compile"),
                           (["--compile", "--compile-backend", "aot_eager", "--compile-mode",
                             "max-autotune-no-cudagraphs"], "is a mode of the inductor backend")]:
        assert run_main(ic_main.main, base + extra, prog="main.py") == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err, err
    assert parse(["--compile", "--compile-mode", "max-autotune-no-cudagraphs"]).compile_mode == \
        "max-autotune-no-cudagraphs"
    with pytest.raises(SystemExit):
        parse(["--compile-mode", "fast"])
    assert "argument --compile-mode: invalid choice: 'fast'" in capsys.readouterr().err


def test_options_that_change_results_are_told_apart_from_those_that_do_not():
    """What a resumed run compares with the run it continues: the output folder, loader workers, the device or the
    stop epoch may change; the input size, lr, epochs, seed, data or model may not. Values as a checkpoint's
    ``args`` hold them (lists for tuples) compare equal to the parsed ones."""
    saved = vars(parse(["--input-size", "32", "--lr", "1e-3", "--output_dir", "a", "--num_workers", "4"]))
    saved = {k: list(v) if isinstance(v, tuple) else v for k, v in saved.items()}
    same = vars(parse(["--input-size", "32", "--lr", "1e-3", "--output_dir", "b", "--num_workers", "0", "--device",
                       "cpu", "--stop-epoch", "3", "--auto-resume", "--compile"]))
    assert changed_options(saved, same) == {}
    other = vars(parse(["--input-size", "64", "--lr", "2e-3", "--epochs", "10", "--seed", "1", "--scale", "0.5",
                        "1.0"]))
    changes = changed_options(saved, other)
    assert set(changes) == {"input_size", "lr", "epochs", "seed", "scale"}
    assert changes["input_size"] == (32, 64)
    text = describe_changes(changes)
    assert "--input-size 64 (was 32)" in text and "--scale 0.5 1.0 (was 0.08 1.0)" in text
    del saved["seed"]  # an option the resumed run did not record is left out
    assert "seed" not in changed_options(saved, other)
