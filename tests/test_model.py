"""WaveFormer as a timm model: complexity, any input size, the timm contract, WBB folding, checkpoints."""
import pytest
import timm
import torch

import wavemsa
from wavemsa.attention import Attention, FrequencyFiner, FrequencyFinerConv, WaveAttention, crop, pad_to_multiple
from wavemsa.complexity import count_flops, count_params, executed_flops
from wavemsa.wave_conv import WaveConv1x1
from wavemsa.wavelets import DWT2D

# docs/DESIGN.md: 224x224, fvcore counting, no auxiliary head: params, GFLOPs with the Frequency Finer on the
# subbands (default) and on the layer input (the published code; same parameters).
EXPECTED = {"wavemsa_s": (21_775_464, 4.54e9, 4.92e9), "wavemsa_b": (32_537_416, 7.09e9, 7.47e9),
            "wavemsa_l": (55_471_032, 14.49e9, 15.29e9)}


@pytest.mark.parametrize("frequency_finer", ["subbands", "input"])
@pytest.mark.parametrize("name", ["wavemsa_s", "wavemsa_b", "wavemsa_l"])
def test_params_and_flops_match_design(name, frequency_finer):
    model = timm.create_model(name, frequency_finer=frequency_finer).eval()
    params, flops_subbands, flops_input = EXPECTED[name]
    flops = flops_input if frequency_finer == "input" else flops_subbands
    assert count_params(model) == params
    assert abs(count_flops(model, torch.randn(1, 3, 224, 224)) - flops) / flops < 0.002


def test_flops_charge_the_formulation_of_the_modules_that_run_otherwise():
    """The channel-wavelet conv runs as a dense 1x1 conv but is charged its two per-band convs (half); the Haar
    transforms run as fixed-weight strided convs but are additions (nothing); the folded Frequency-Finer conv is
    charged its conv only. executed_flops counts what runs."""
    x = torch.randn(1, 64, 8, 6)
    assert count_flops(WaveConv1x1(64, 16), x) == 8 * 6 * 64 * 16 // 2
    assert executed_flops(WaveConv1x1(64, 16), x) >= 8 * 6 * 64 * 16
    assert count_flops(DWT2D(channels=64), x) == 0 < executed_flops(DWT2D(channels=64), x)
    assert count_flops(FrequencyFinerConv(64, 2), x) == 4 * 3 * 64 * 64 * 4
    attn = WaveAttention(64, 2, sr_ratio=2)
    tokens = torch.randn(1, 48, 64)
    assert count_flops(attn, (tokens, [8, 6])) < executed_flops(attn, (tokens, [8, 6]))


def test_token_label_head_adds_expected_params():
    base = count_params(timm.create_model("wavemsa_s"))
    with_aux = count_params(timm.create_model("wavemsa_s", token_label=True))
    assert with_aux - base == 448 * 1000 + 1000


def test_buffers_own_their_memory():
    """DistributedDataParallel broadcasts every buffer in place at the start: a buffer that is an expanded view (one
    memory location behind many elements) cannot be written to."""
    for arch in ("t", "s"):
        for frequency_finer in ("subbands", "input"):
            model = timm.create_model(f"wavemsa_{arch}", frequency_finer=frequency_finer)
            for name, buf in model.named_buffers():
                assert not torch._debug_has_internal_overlap(buf), name


def test_state_dict_holds_the_parameters_themselves():
    """timm's ModelEmaV3 (the trainer's --model-ema) updates the EMA copy by interpolating its state dict's tensors
    in place: each must be the parameter or buffer itself, not a copy (a copy leaves that weight's EMA where it
    started), and an EMA update moves every parameter."""
    from timm.utils import ModelEmaV3

    model = timm.create_model("wavemsa_t", num_classes=5)
    state = model.state_dict()
    for name, p in [*model.named_parameters(), *model.named_buffers()]:
        if name in state:
            assert state[name].data_ptr() == p.data_ptr(), name
    ema = ModelEmaV3(model, decay=0.5)
    before = {k: v.clone() for k, v in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update(model, step=5)
    for name, p in ema.module.named_parameters():
        torch.testing.assert_close(p, before[name] + 0.5, msg=name)


def test_wave_stages_selects_attention_kind():
    model = timm.create_model("wavemsa_t", wave_stages=3)
    kinds = [type(stage.blocks[0].attn) for stage in model.stages]
    assert kinds == [WaveAttention, WaveAttention, WaveAttention, Attention]
    default = timm.create_model("wavemsa_t")
    assert [type(s.blocks[0].attn) for s in default.stages] == [WaveAttention, WaveAttention, Attention, Attention]


@pytest.mark.parametrize("size", [(224, 224), (225, 193), (64, 64)])
def test_forward_backward_any_size(size):
    model = timm.create_model("wavemsa_s", num_classes=7, drop_path_rate=0.1)
    out = model(torch.randn(1, 3, *size))
    assert out.shape == (1, 7)
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


def test_features_only_strides_and_channels():
    model = timm.create_model("wavemsa_s", features_only=True)
    assert model.feature_info.reduction() == [4, 8, 16, 32]
    assert model.feature_info.channels() == [64, 128, 320, 448]
    feats = model(torch.randn(1, 3, 225, 193))
    expected_hw = [(57, 49), (29, 25), (15, 13), (8, 7)]
    assert [f.shape for f in feats] == [torch.Size([1, c, *hw]) for c, hw in zip([64, 128, 320, 448], expected_hw)]
    some = timm.create_model("wavemsa_t", features_only=True, out_indices=(1, 3))
    assert [f.shape[1] for f in some(torch.randn(1, 3, 64, 64))] == [64, 192]


def test_forward_head_contract():
    model = timm.create_model("wavemsa_t", num_classes=5).eval()
    x = torch.randn(2, 3, 64, 96)
    features = model.forward_features(x)
    assert features.shape == (2, 192, 2, 3)  # NCHW, as timm's output_fmt default
    assert model.forward_head(features, pre_logits=True).shape == (2, 192)
    torch.testing.assert_close(model.forward_head(features), model(x))
    final, intermediates = model.forward_intermediates(x)
    torch.testing.assert_close(final, features)
    torch.testing.assert_close(intermediates[-1], features)
    # the last stage's map goes un-normed into the class attention; the closing LayerNorm normalises the map the
    # feature pyramid sees (norm=True, features_only)
    normed = torch.nn.functional.layer_norm(features.permute(0, 2, 3, 1), (192,), model.norm.weight,
                                            model.norm.bias, eps=1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(model.forward_intermediates(x, norm=True)[1][-1], normed)
    assert not torch.allclose(features, normed, atol=1e-2)
    model.reset_classifier(0)
    assert model(x).shape == (2, 192)
    model.reset_classifier(3)
    assert model(x).shape == (2, 3) and model.get_classifier().out_features == 3
    model.reset_classifier(0, "avg")
    torch.testing.assert_close(model(x), normed.mean(dim=(2, 3)))
    model.reset_classifier(0, "")
    torch.testing.assert_close(model(x), normed)


def test_token_label_outputs():
    model = timm.create_model("wavemsa_t", num_classes=4, token_label=True)
    cls, aux, box = model.forward_train(torch.randn(2, 3, 64, 64))
    assert cls.shape == (2, 4) and aux.shape == (2, 4, 4) and len(box) == 4
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    tokens = model.forward_tokens_head(model.forward_features(x).flatten(2).transpose(1, 2))
    expected = model.head(tokens[:, 0]) + 0.5 * model.aux_head(tokens[:, 1:]).max(1).values
    torch.testing.assert_close(model(x), expected)


def test_grad_checkpointing_same_numbers():
    torch.manual_seed(0)
    model = timm.create_model("wavemsa_t").eval()  # eval: BN statistics are not updated twice
    x = torch.randn(2, 3, 64, 64)
    ref = model(x)
    ref.sum().backward()
    ref_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    out = model(x)
    out.sum().backward()
    torch.testing.assert_close(out, ref)
    for g, r in zip([p.grad for p in model.parameters()], ref_grads):
        torch.testing.assert_close(g, r)


def test_bad_inputs_raise_value_error():
    model = timm.create_model("wavemsa_t")
    with pytest.raises(ValueError, match="4-D"):
        model(torch.randn(3, 64, 64))
    with pytest.raises(ValueError, match="3 input channels"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match=">= 32"):
        model(torch.randn(1, 3, 16, 64))
    with pytest.raises(ValueError, match="floating-point image batch .* got torch.uint8"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))  # was: "expected scalar type Byte but found Float"
    gray = timm.create_model("wavemsa_t", in_chans=1)
    assert gray(torch.randn(1, 1, 32, 32)).shape == (1, 1000)
    for kwargs, message in [({"drop_path_rate": 2.0}, r"drop_path_rate must be in \[0, 1\)"),
                            ({"drop_rate": -0.1}, r"drop_rate must be in \[0, 1\)"),
                            ({"num_classes": -1}, "num_classes must be >= 0")]:
        with pytest.raises(ValueError, match=message):
            timm.create_model("wavemsa_t", **kwargs)


def test_frequency_finer_formula():
    x = torch.randn(2, 8, 3, 3)
    ll, lh, hl, hh = x.chunk(4, dim=1)
    expected = torch.cat([ll, lh.abs() + ll, hl.abs() + ll, hh.abs() + ll], dim=1)
    torch.testing.assert_close(FrequencyFiner()(x), expected)


def test_wave_conv_halves_weights_and_folds_exactly():
    conv = WaveConv1x1(64, 16)
    assert sum(p.numel() for p in conv.parameters()) == 64 * 16 // 2
    x = torch.randn(2, 64, 5, 7)
    dense = conv.fuse()
    assert isinstance(dense, torch.nn.Conv2d) and dense.weight.shape == (16, 64, 1, 1)
    torch.testing.assert_close(dense(x), conv(x), atol=1e-5, rtol=0)
    # the weights really act per band: zeroing the high-band weights changes the output
    with torch.no_grad():
        conv.conv.weight[8:] = 0
    assert not torch.allclose(conv(x), dense(x), atol=1e-3)


def test_model_fuse_keeps_outputs():
    model = timm.create_model("wavemsa_t", num_classes=10)
    model.train()
    for _ in range(2):  # non-trivial BatchNorm statistics
        model(torch.randn(4, 3, 64, 64))
    model.eval()
    x = torch.randn(2, 3, 80, 72)
    ref = model(x)
    model.fuse()
    assert not any(isinstance(m, (torch.nn.BatchNorm2d, WaveConv1x1)) for m in model.modules())
    torch.testing.assert_close(model(x), ref, atol=1e-4, rtol=1e-4)
    with pytest.raises(RuntimeError, match="eval"):
        timm.create_model("wavemsa_t").train().fuse()


@pytest.mark.parametrize("fuse", [False, True])
def test_inference_mode_equals_autograd_and_leaves_the_input_alone(fuse):
    model = timm.create_model("wavemsa_t", num_classes=10).eval()
    if fuse:
        model.fuse()
    x = torch.randn(2, 3, 72, 64)
    x_before = x.clone()
    with_grad = model(x)
    assert with_grad.requires_grad
    with torch.inference_mode():
        no_grad = model(x)
    torch.testing.assert_close(no_grad, with_grad.detach(), rtol=0, atol=0)
    torch.testing.assert_close(x, x_before, rtol=0, atol=0)
    with torch.no_grad():
        feats = model.forward_intermediates(x, intermediates_only=True)
    assert [f.shape[1] for f in feats] == list(model.embed_dims)


def test_bfloat16_autocast_forward():
    model = timm.create_model("wavemsa_t", num_classes=10)
    x = torch.randn(2, 3, 64, 64)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    model.eval()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with_grad = model(x).detach()
        with torch.inference_mode():
            no_grad = model(x)
    torch.testing.assert_close(no_grad, with_grad, rtol=0, atol=0)
    torch.testing.assert_close(no_grad.float(), model(x), atol=0.1, rtol=0.05)


def test_one_code_path_no_copy_at_sizes_that_need_no_padding():
    """pad_to_multiple and crop hand back their input when nothing is to be padded or cropped, and otherwise pad
    with zeros / take the top-left corner, in eager PyTorch as under tracing (the same code)."""
    x = torch.randn(1, 4, 8, 12)
    assert pad_to_multiple(x, 4) is x and crop(x, 8, 12) is x
    padded = pad_to_multiple(x[..., :7, :10], 4)
    assert padded.shape == (1, 4, 8, 12) and padded[..., 7:, :].abs().sum() == 0 and padded[..., 10:].abs().sum() == 0
    torch.testing.assert_close(crop(padded, 7, 10), x[..., :7, :10], rtol=0, atol=0)


def test_local_checkpoint_loading(tmp_path):
    src = timm.create_model("wavemsa_t", num_classes=10).eval()
    x = torch.randn(1, 3, 64, 64)
    trainer_ckpt = tmp_path / "checkpoint.pth"
    torch.save({"model": src.state_dict(), "epoch": 3}, trainer_ckpt)
    via_cfg = timm.create_model("wavemsa_t", num_classes=10, pretrained=True,
                                pretrained_cfg_overlay=dict(file=str(trainer_ckpt), num_classes=10)).eval()
    torch.testing.assert_close(via_cfg(x), src(x))
    new_head = timm.create_model("wavemsa_t", num_classes=3, pretrained=True,  # fine-tuning: head re-initialised
                                 pretrained_cfg_overlay=dict(file=str(trainer_ckpt), num_classes=10))
    torch.testing.assert_close(new_head.stages[0].embed.proj.weight, src.stages[0].embed.proj.weight)
    via_path = timm.create_model("wavemsa_t", num_classes=10, checkpoint_path=str(trainer_ckpt)).eval()
    torch.testing.assert_close(via_path(x), src(x))
    state = wavemsa.load_state_dict(trainer_ckpt)
    assert set(state) == set(src.state_dict())


def test_checkpoint_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.pth"):
        wavemsa.load_state_dict(tmp_path / "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x80\x04 this is not a checkpoint")
    with pytest.raises(ValueError, match="corrupt.pth"):
        wavemsa.load_state_dict(corrupt)
    other = tmp_path / "other.pth"
    torch.save({"model": timm.create_model("wavemsa_s").state_dict()}, other)
    with pytest.raises(ValueError, match="shape mismatch"):
        wavemsa.load_weights(timm.create_model("wavemsa_t"), wavemsa.load_state_dict(other), source=str(other))
    with pytest.raises(KeyError, match="model_ema"):
        wavemsa.load_state_dict(other, use_ema=True)
