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
    _ReferenceWaveConv1x1,
    reference_wavemsa,
)
from torch import nn

import wavemsa  # noqa: F401  (registers the timm models)
from wavemsa.attention import FrequencyFiner, FrequencyFinerConv
from wavemsa.wave_conv import WaveConv1x1
from wavemsa.wavelets import DWT2D, IDWT2D


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
    """Ours loads the reference's weights (the originals' layout: separate q and kv in the plain attention)."""
    model = timm.create_model(f"wavemsa_{arch}", **kwargs)
    ref = _randomize_batchnorm(reference_wavemsa(arch, **kwargs))
    result = model.load_state_dict(ref.state_dict(), strict=True)
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
    """Training mode (BatchNorm on batch statistics, the dense channel-wavelet convs, the wavelet transforms as
    strided convs, the Frequency Finer folded into kv_embed): same loss and same parameter gradients as the
    published formulation."""
    model, ref = _pair("t", num_classes=10, frequency_finer=frequency_finer)
    model.train(), ref.train()
    x, target = torch.randn(4, 3, 64, 64), torch.randint(0, 10, (4,))
    losses = []
    for m in (model, ref):
        loss = nn.functional.cross_entropy(m(x), target)
        loss.backward()
        losses.append(loss.detach())
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-5)
    ref_grads = {name: p.grad for name, p in ref.named_parameters()}
    for name, p in model.named_parameters():
        if ".qkv." in name:  # the reference's separate q and kv projections, stacked
            expected = torch.cat([ref_grads[name.replace(".qkv.", ".q.")], ref_grads[name.replace(".qkv.", ".kv.")]])
        else:
            expected = ref_grads[name]
        torch.testing.assert_close(p.grad, expected, atol=1e-6, rtol=1e-4, msg=lambda m, n=name: f"{n}: {m}")


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
@pytest.mark.parametrize("channels", [(64, 16), (16, 64), (6, 10), (2, 2)])
def test_wave_conv_is_the_published_factored_conv(channels):
    """WaveConv1x1 runs one dense 1x1 conv whose weight it builds from the two per-band weights; the published
    form transforms the channels with matrices, runs a 1x1 conv per band and transforms back. Same outputs, same
    gradients for the input and the weights (float64), and fuse() is that dense conv."""
    ci, co = channels
    conv = WaveConv1x1(ci, co).double()
    nn.init.normal_(conv.conv.weight)
    ref = _ReferenceWaveConv1x1(ci, co).double()
    ref.load_state_dict(conv.state_dict())
    x = torch.randn(2, ci, 5, 6, dtype=torch.float64, requires_grad=True)
    probe = torch.randn(2, co, 5, 6, dtype=torch.float64)
    grads = []
    for m in (conv, ref):
        out = m(x)
        grads.append((out, *torch.autograd.grad((out * probe).sum(), (x, m.conv.weight))))
    for got, want in zip(*grads):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(conv.fuse()(x), grads[1][0], rtol=0, atol=1e-12)


def test_wavelet_transforms_are_the_published_convs_in_value_and_gradient():
    """DWT2D / IDWT2D (one fixed-weight stride-2 conv / transposed conv each) equal the published transforms (four
    depth-wise convs and a concatenation / a transposed conv after a channel reordering), gradients included."""
    x = torch.randn(2, 8, 6, 10, requires_grad=True)
    dwt, idwt = DWT2D("haar", channels=8), IDWT2D("haar", channels=8)
    y, y_ref = dwt(x), _ConvDWT2D("haar")(x)
    probe = torch.randn_like(y)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-6)
    g, g_ref = (torch.autograd.grad((t * probe).sum(), x)[0] for t in (y, y_ref))
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-6)
    z = torch.randn(2, 32, 3, 5, requires_grad=True)
    out, out_ref = idwt(z), _ConvIDWT2D("haar")(z)
    torch.testing.assert_close(out, out_ref, rtol=0, atol=1e-6)
    g, g_ref = (torch.autograd.grad((t * x.detach()).sum(), z)[0] for t in (out, out_ref))
    torch.testing.assert_close(g, g_ref, rtol=0, atol=1e-6)


def test_folded_frequency_finer_equals_explicit_form():
    """FrequencyFinerConv = conv(FrequencyFiner(x)) for the WBB's subbands (>= 0 after its ReLU); its fuse() is the
    same conv; with signed input the fold would be wrong, which is why it only follows the ReLU."""
    conv = FrequencyFinerConv(64, 2)
    explicit = nn.Conv2d(64, 64, 2, stride=2)
    explicit.load_state_dict(conv.state_dict())
    subbands = torch.relu(torch.randn(2, 64, 8, 8))
    want = explicit(FrequencyFiner()(subbands))
    got = conv(subbands)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    probe = torch.randn_like(got)
    for a, b in zip(torch.autograd.grad((got * probe).sum(), (conv.weight, conv.bias)),
                    torch.autograd.grad((want * probe).sum(), (explicit.weight, explicit.bias))):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(conv.fuse()(subbands), want.detach(), atol=1e-5, rtol=1e-5)
    attn = wavemsa.WaveAttention(64, 2, sr_ratio=2)
    assert isinstance(attn.kv_embed, FrequencyFinerConv) and isinstance(attn.wbb.filter[-1], nn.ReLU)
    signed = torch.randn(2, 64, 8, 8)
    assert not torch.allclose(conv(signed), explicit(FrequencyFiner()(signed)), atol=1e-3)
    unfolded = FrequencyFinerConv(64, 2, fold=False)  # the published reading: signed input, explicit |.|
    unfolded.load_state_dict(conv.state_dict())
    torch.testing.assert_close(unfolded(signed), explicit(FrequencyFiner()(signed)), atol=1e-5, rtol=1e-5)
    assert unfolded.fuse() is unfolded
