"""The library computes the published formulation: same weights, same outputs and gradients.

``tests/reference.py`` re-implements the published WaveMSA (matrix-based channel DWT built per call, conv-based
2-D DWT, explicit softmax attention, the Frequency Finer with its abs, the published head) for both readings of
the Frequency Finer. The library folds, fuses and reorders that computation; these tests pin that it is still the
same function.
"""
import numpy as np
import pytest
import pywt
import timm
import torch
from reference import (  # tests/reference.py, the test oracle
    ReferenceWaveFormer,
    _ConvDWT2D,
    _ConvIDWT2D,
    _MatrixDWT1D,
    _MatrixIDWT1D,
    reference_wavemsa,
)
from torch import nn

import wavemsa  # noqa: F401  (registers the timm models)
from wavemsa.attention import FrequencyFiner, FrequencyFinerConv
from wavemsa.wave_conv import WaveConv1x1


def _randomize_batchnorm(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics and affine parameters, so folding BN is really exercised."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(1 + 0.2 * torch.randn(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))
    return model


def _pair(arch: str, **kwargs) -> tuple[nn.Module, ReferenceWaveFormer]:
    model = _randomize_batchnorm(timm.create_model(f"wavemsa_{arch}", **kwargs))
    ref = reference_wavemsa(arch, **kwargs)
    result = ref.load_state_dict(model.state_dict(), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    return model, ref


# ---- the reference's own transforms are the published ones --------------------------------------
def test_reference_matrix_dwt1d_matches_pywavelets():
    x = torch.randn(2, 12, 3, 4, dtype=torch.float64)
    low, high = _MatrixDWT1D("haar")(x)
    cA, cD = pywt.dwt(x.numpy(), "haar", mode="periodization", axis=1)
    np.testing.assert_allclose(low.numpy(), cA, atol=1e-12)
    np.testing.assert_allclose(high.numpy(), cD, atol=1e-12)
    torch.testing.assert_close(_MatrixIDWT1D("haar")(low, high), x)


def test_reference_conv_dwt2d_matches_pywavelets():
    x = torch.randn(2, 3, 8, 6)
    cA, (cH, cV, cD) = pywt.dwt2(x.double().numpy(), "haar", mode="periodization")
    y = _ConvDWT2D("haar")(x)
    np.testing.assert_allclose(y.numpy(), np.concatenate([cA, cH, cV, cD], axis=1), atol=1e-5)
    torch.testing.assert_close(_ConvIDWT2D("haar")(y), x, atol=1e-5, rtol=0)


# ---- library == reference -----------------------------------------------------------------------
READINGS = ["subbands", "input"]  # the Frequency Finer on the WBB's subbands (paper's figure) / on the layer input


@pytest.mark.parametrize("frequency_finer", READINGS)
@pytest.mark.parametrize("size", [(64, 64), (75, 90)])
def test_tiny_model_equals_reference_in_eval(size, frequency_finer):
    model, ref = _pair("t", num_classes=10, frequency_finer=frequency_finer)
    model.eval(), ref.eval()
    x = torch.randn(2, 3, *size)
    with torch.no_grad():
        expected = ref(x)
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-4)
        model.fuse()
        torch.testing.assert_close(model(x), expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("frequency_finer", READINGS)
def test_tiny_model_equals_reference_in_training_with_gradients(frequency_finer):
    """Training mode (BatchNorm on batch statistics, the dense-weight WaveConv path, the Frequency Finer
    folded into kv_embed): same loss and same parameter gradients as the published formulation."""
    model, ref = _pair("t", num_classes=10, frequency_finer=frequency_finer)
    model.train(), ref.train()
    x, target = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))
    losses = []
    for m in (model, ref):
        loss = nn.functional.cross_entropy(m(x), target)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-5)
    ref_grads = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, ref_grads[name].grad, atol=1e-6, rtol=1e-4,
                                   msg=lambda m, n=name: f"{n}: {m}")


@pytest.mark.parametrize("frequency_finer", READINGS)
def test_wavemsa_s_equals_reference_and_fused_at_224(frequency_finer):
    model, ref = _pair("s", frequency_finer=frequency_finer)
    model.eval(), ref.eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = ref(x)
        unfused = model(x)
        torch.testing.assert_close(unfused, expected, atol=1e-5, rtol=1e-4)
        model.fuse()
        assert not any(isinstance(m, (nn.BatchNorm2d, WaveConv1x1)) for m in model.modules())
        torch.testing.assert_close(model(x), unfused, atol=1e-5, rtol=1e-4)


def test_token_label_head_equals_reference():
    model, ref = _pair("t", num_classes=5, token_label=True)
    model.eval(), ref.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(x), atol=1e-5, rtol=1e-4)


# ---- the fast paths inside the library -----------------------------------------------------------
def test_wave_conv_training_path_is_the_factored_function():
    conv = WaveConv1x1(32, 8).train()
    x = torch.randn(2, 32, 5, 6, requires_grad=True)
    fast = conv(x)
    fast.square().sum().backward()
    grads = (x.grad.clone(), conv.conv.weight.grad.clone())
    x.grad, conv.conv.weight.grad = None, None
    slow = conv.eval()(x)
    slow.square().sum().backward()
    torch.testing.assert_close(fast, slow, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(grads[0], x.grad, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(grads[1], conv.conv.weight.grad, atol=1e-5, rtol=1e-5)


def test_folded_frequency_finer_equals_explicit_form():
    """FrequencyFinerConv = conv(FrequencyFiner(x)) for the WBB's subbands (>= 0 after its ReLU); its fuse() is the
    same conv; with signed input the fold would be wrong, which is why it only follows the ReLU."""
    conv = FrequencyFinerConv(64, 2)
    explicit = nn.Conv2d(64, 64, 2, stride=2)
    explicit.load_state_dict(conv.state_dict())
    subbands = torch.relu(torch.randn(2, 64, 8, 8))
    want = explicit(FrequencyFiner()(subbands))
    torch.testing.assert_close(conv(subbands), want, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(conv.fuse()(subbands), want, atol=1e-5, rtol=1e-5)
    attn = wavemsa.WaveAttention(64, 2, sr_ratio=2)
    assert isinstance(attn.kv_embed, FrequencyFinerConv) and isinstance(attn.wbb.filter[-1], nn.ReLU)
    signed = torch.randn(2, 64, 8, 8)
    assert not torch.allclose(conv(signed), explicit(FrequencyFiner()(signed)), atol=1e-3)
