"""wavemsa.wavelets: exact against PyWavelets and pytorch_wavelets (periodization), perfect reconstruction, autograd,
dtypes."""
import numpy as np
import pytest
import pywt
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from wavemsa.wavelets import DWT1D, DWT2D, IDWT1D, IDWT2D

WAVES = ["haar", "db2", "sym3"]


class _OpLog(TorchDispatchMode):
    """The aten operators dispatched (views aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if not func.is_view:
            self.ops.append(str(func))
        return func(*args, **(kwargs or {}))
SIZES = [(8, 12), (16, 16), (7, 9), (5, 6)]


def _pywt_dwt2(x: torch.Tensor, wave: str) -> np.ndarray:
    cA, (cH, cV, cD) = pywt.dwt2(x.double().numpy(), wave, mode="periodization")
    return np.concatenate([cA, cH, cV, cD], axis=1)


@pytest.mark.parametrize("wave", WAVES)
@pytest.mark.parametrize("size", SIZES)
def test_dwt2d_matches_pywavelets(wave, size):
    x = torch.randn(2, 3, *size)
    y = DWT2D(wave)(x)
    ref = _pywt_dwt2(x, wave)
    assert y.shape == ref.shape == (2, 12, (size[0] + 1) // 2, (size[1] + 1) // 2)
    np.testing.assert_allclose(y.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("wave", WAVES)
def test_dwt2d_and_idwt2d_match_pytorch_wavelets(wave):
    """pytorch_wavelets (one of the packages the original names), one level, periodization: its low band and its
    three high bands (stacked in the order pywt.dwt2 gives cH, cV, cD) are our four groups; its inverse is ours."""
    from pytorch_wavelets import DWTForward, DWTInverse

    x = torch.randn(2, 3, 8, 12, dtype=torch.float64)
    low, highs = DWTForward(J=1, wave=wave, mode="periodization").double()(x)
    theirs = torch.cat([low, highs[0][:, :, 0], highs[0][:, :, 1], highs[0][:, :, 2]], dim=1)
    ours = DWT2D(wave).double()(x)
    torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=0)  # its filters are float32 constants
    y = torch.randn_like(ours)
    inverse = DWTInverse(wave=wave, mode="periodization").double()
    theirs = inverse((y[:, :3], [y[:, 3:].reshape(2, 3, 3, 4, 6).transpose(1, 2)]))  # (B, C, band, h, w)
    torch.testing.assert_close(IDWT2D(wave).double()(y), theirs, atol=1e-6, rtol=0)


@pytest.mark.parametrize("wave", WAVES)
@pytest.mark.parametrize("channels", [6, 7, 16])
def test_dwt1d_matches_pywavelets_along_channels(wave, channels):
    x = torch.randn(2, channels, 3, 5)
    low, high = DWT1D(wave)(x)
    cA, cD = pywt.dwt(x.double().numpy(), wave, mode="periodization", axis=1)
    np.testing.assert_allclose(low.numpy(), cA, atol=1e-5)
    np.testing.assert_allclose(high.numpy(), cD, atol=1e-5)


@pytest.mark.parametrize("wave", WAVES)
@pytest.mark.parametrize("size", SIZES)
def test_2d_perfect_reconstruction(wave, size):
    x = torch.randn(2, 4, *size)
    rec = IDWT2D(wave)(DWT2D(wave)(x))[..., : size[0], : size[1]]
    torch.testing.assert_close(rec, x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("wave", WAVES)
def test_1d_perfect_reconstruction(wave):
    x = torch.randn(3, 10, 4, 4)
    torch.testing.assert_close(IDWT1D(wave)(*DWT1D(wave)(x)), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("wave", ["haar", "db2"])
def test_inverse_is_adjoint(wave):
    """Orthogonal transforms: <DWT x, y> == <x, IDWT y> (checks the general path's circular fold)."""
    x = torch.randn(2, 3, 8, 10, dtype=torch.float64)
    y = torch.randn(2, 12, 4, 5, dtype=torch.float64)
    lhs = (DWT2D(wave)(x) * y).sum()
    rhs = (x * IDWT2D(wave)(y)).sum()
    torch.testing.assert_close(lhs, rhs)


@pytest.mark.parametrize("wave", ["haar", "db2"])
def test_2d_transforms_are_one_conv_each_with_or_without_a_channel_count(wave):
    """Built for a channel count (the weight a buffer) or not (built per call): the same transform; for Haar one
    strided conv / transposed conv is all that runs."""
    x = torch.randn(2, 3, 8, 6)
    y = DWT2D(wave)(x)
    torch.testing.assert_close(DWT2D(wave, channels=3)(x), y, rtol=0, atol=0)
    torch.testing.assert_close(IDWT2D(wave, channels=3)(y), IDWT2D(wave)(y), rtol=0, atol=0)
    with pytest.raises(ValueError, match="built for 3 channels, got 4"):
        DWT2D(wave, channels=3)(torch.randn(1, 4, 8, 8))
    if wave == "haar":
        dwt, idwt = DWT2D(wave, channels=3), IDWT2D(wave, channels=3)
        with _OpLog() as log:
            idwt(dwt(x))
        assert log.ops == ["aten.convolution.default", "aten.convolution.default"]


@pytest.mark.parametrize("wave", ["haar", "db2"])
def test_gradcheck(wave):
    x2 = torch.randn(1, 2, 6, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(DWT2D(wave), (x2,))
    y2 = torch.randn(1, 8, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(IDWT2D(wave), (y2,))
    x1 = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: DWT1D(wave)(t), (x1,))
    lo, hi = (torch.randn(2, 3, 3, dtype=torch.float64, requires_grad=True) for _ in range(2))
    assert torch.autograd.gradcheck(IDWT1D(wave), (lo, hi))


@pytest.mark.parametrize("wave", ["haar", "db2"])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_dtype_follows_input(wave, dtype):
    x = torch.randn(2, 3, 8, 8)
    y = DWT2D(wave)(x.to(dtype))
    assert y.dtype == dtype and y.device == x.device
    torch.testing.assert_close(y.float(), DWT2D(wave)(x), atol=0.05, rtol=0.02)
    assert IDWT2D(wave)(y).dtype == dtype
    low, high = DWT1D(wave)(x.to(dtype))
    assert low.dtype == high.dtype == dtype


def test_module_to_double_keeps_exactness():
    m = DWT2D("db2").double()
    x = torch.randn(1, 2, 8, 8, dtype=torch.float64)
    np.testing.assert_allclose(m(x).numpy(), _pywt_dwt2(x, "db2"), atol=1e-12)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="4-D"):
        DWT2D()(torch.randn(3, 8, 8))
    with pytest.raises(ValueError, match="divisible by 4"):
        IDWT2D()(torch.randn(1, 6, 4, 4))
    with pytest.raises(ValueError, match="unknown wavelet"):
        DWT2D("nope")
    with pytest.raises(ValueError, match="not orthogonal"):
        DWT2D("bior2.2")
    with pytest.raises(ValueError, match="equal shape"):
        IDWT1D()(torch.randn(1, 2, 3), torch.randn(1, 3, 3))
