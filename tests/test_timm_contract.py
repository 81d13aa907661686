"""WaveFormer under timm's tools: reparameterize_model, TorchScript, torch.fx, pretrained configs, torch.hub.

timm's own tests/test_models.py runs on every wavemsa_* model through `make test-timm`; these tests pin what it
does not check: that traced and scripted models compute what eager PyTorch computes (at a size that needs padding
too), that fusing is exact, and the configuration values taken from the originals.
"""
from pathlib import Path

import pytest
import timm
import torch
from timm.models import get_notrace_functions, get_notrace_modules
from timm.utils import reparameterize_model
from torch import nn
from torchvision.models.feature_extraction import create_feature_extractor

import wavemsa
from wavemsa.attention import FrequencyFinerConv
from wavemsa.wave_conv import WaveConv1x1

REPO = Path(__file__).resolve().parents[1]
TRACER = dict(leaf_modules=get_notrace_modules(), autowrap_functions=get_notrace_functions())


def _trained_bn(model: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so folding them changes the weights."""
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 64, 64))
    return model.eval()


def test_reparameterize_model_equals_model_fuse_and_the_unfused_model():
    model = _trained_bn(timm.create_model("wavemsa_t", num_classes=10))
    x = torch.randn(2, 3, 75, 90)  # needs padding before the wavelet transforms
    with torch.no_grad():
        ref = model(x)
        reparam = reparameterize_model(model)  # a fused copy
        foldable = (nn.BatchNorm2d, WaveConv1x1, FrequencyFinerConv)
        assert not any(isinstance(m, foldable) for m in reparam.modules())
        assert any(isinstance(m, foldable) for m in model.modules())  # the original is untouched
        torch.testing.assert_close(reparam(x), ref, atol=1e-4, rtol=1e-4)
        fused = model.fuse()
        assert fused is model
        torch.testing.assert_close(fused(x), reparam(x), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("fuse", [False, True])
def test_torchscript_and_fx_run_the_plain_code_with_the_same_numbers(fuse):
    """TorchScript and torch.fx run the model's one forward: the same outputs as eager PyTorch, also at a size that
    needs padding inside the layers."""
    model = _trained_bn(timm.create_model("wavemsa_t", num_classes=10))
    if fuse:
        model.fuse()
    x = torch.randn(2, 3, 75, 90)
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(torch.jit.script(model)(x), ref, atol=1e-5, rtol=1e-5)
        fx = create_feature_extractor(model, return_nodes=["head"], tracer_kwargs=TRACER)
        torch.testing.assert_close(fx(x)["head"], ref, atol=1e-5, rtol=1e-5)


def test_fx_feature_extraction_and_input_checks_in_the_traced_graph():
    torch.manual_seed(0)
    model = timm.create_model("wavemsa_t", features_only=True, feature_cls="fx").eval()
    torch.manual_seed(0)
    getter = timm.create_model("wavemsa_t", features_only=True).eval()  # same weights
    x = torch.randn(1, 3, 75, 90)
    with torch.no_grad():
        traced, expected = model(x), getter(x)
        # the graph's last-stage node is the map the class attention reads; features_only closes it with the
        # network's LayerNorm (the map the dense-prediction backbone returns)
        traced[-1] = getter.model.normed_map(traced[-1])
        for got, want in zip(traced, expected):
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
        with pytest.raises(ValueError, match="3 input channels"):  # the check is a leaf of the graph, not lost
            model(torch.randn(1, 1, 64, 64))
        with pytest.raises(torch.jit.Error, match="ValueError: WaveFormer needs H and W >= 32"):  # TorchScript too
            torch.jit.script(timm.create_model("wavemsa_t").eval())(torch.randn(1, 3, 16, 64))


def test_pretrained_cfg_fields_and_the_originals_evaluation_settings():
    """Every field timm's PVTv2 / VOLO configs set is set here too (weights locations aside: none are published);
    evaluation as the originals' trainer: resize to 224 / 0.96 bicubic, centre crop 224."""
    where = {"url", "hf_hub_id", "hf_hub_filename", "file", "state_dict", "source", "tag", "architecture"}
    ours = timm.models.get_pretrained_cfg("wavemsa_s").to_dict()
    for other in ("pvt_v2_b2", "volo_d1_224"):
        theirs = timm.models.get_pretrained_cfg(other).to_dict()
        unset = [k for k, v in theirs.items() if v is not None and k not in where and ours.get(k) is None]
        assert not unset, f"fields set by {other} but not by wavemsa_s: {unset}"
    model = timm.create_model("wavemsa_s")
    data = timm.data.resolve_data_config(model=model)
    assert (data["crop_pct"], data["interpolation"], data["input_size"]) == (0.96, "bicubic", (3, 224, 224))
    assert tuple(model.pretrained_cfg["pool_size"]) == (7, 7)


def test_layer_norm_eps_as_in_the_originals():
    """partial(nn.LayerNorm, eps=1e-6) in the blocks, at the end of each stage and in the head; PyTorch's 1e-5 in the
    patch embeddings and before the keys and values (YehLi/ImageNetModel wavevit.py, jack-li123/WaveMSA)."""
    model = timm.create_model("wavemsa_t")
    eps = {name: m.eps for name, m in model.named_modules() if isinstance(m, nn.LayerNorm)}
    assert {eps["stages.0.blocks.0.norm1"], eps["stages.1.blocks.0.norm2"], eps["stages.2.norm"],
            eps["post_blocks.0.norm1"], eps["post_blocks.0.norm2"], eps["norm"]} == {1e-6}
    assert {eps["stages.0.embed.norm"], eps["stages.2.embed.norm"], eps["stages.0.blocks.0.attn.kv.0"]} == {1e-5}
    assert timm.create_model("wavemsa_t", norm_eps=1e-5).stages[0].blocks[0].norm1.eps == 1e-5


def test_head_keys_map_one_to_one_to_the_originals():
    """The originals' head (YehLi/ImageNetModel wavevit.py, jack-li123/WaveMSA wavemsa.py): ``post_network.0`` (norm1,
    class attention q / kv / proj with biases, norm2, FFN fc1 / fc2), then ``norm4`` (the last stage's LayerNorm, which
    only follows the class attention), then ``head``. Renamed, they are ours, shape for shape; the last stage has no
    LayerNorm of its own."""
    dim, hidden, classes = 448, 4 * 448, 1000
    originals = {"norm4.weight": (dim,), "norm4.bias": (dim,), "head.weight": (classes, dim), "head.bias": (classes,)}
    for name, out, inp in [("norm1", None, dim), ("norm2", None, dim), ("attn.q", dim, dim), ("attn.kv", 2 * dim, dim),
                           ("attn.proj", dim, dim), ("mlp.fc1", hidden, dim), ("mlp.fc2", dim, hidden)]:
        originals[f"post_network.0.{name}.weight"] = (out, inp) if out else (inp,)
        originals[f"post_network.0.{name}.bias"] = (out or inp,)
    renamed = {k.replace("post_network.", "post_blocks.").replace("norm4.", "norm."): v for k, v in originals.items()}
    state = timm.create_model("wavemsa_s").state_dict()
    ours = {k: tuple(v.shape) for k, v in state.items() if k.startswith(("post_blocks.", "norm.", "head."))}
    assert ours == renamed
    assert not [k for k in state if k.startswith("stages.3.norm")]
    assert [k for k in state if k.startswith("stages.2.norm")] == ["stages.2.norm.weight", "stages.2.norm.bias"]


def test_hub_local_load_builds_the_models():
    model = torch.hub.load(str(REPO), "wavemsa_t", source="local", num_classes=5)
    assert isinstance(model, wavemsa.WaveFormer) and model.get_classifier().out_features == 5
    assert model.eval()(torch.randn(1, 3, 64, 64)).shape == (1, 5)
    for name in ("wavemsa_s", "wavemsa_b", "wavemsa_l"):  # entry points on the meta device: structure only
        big = torch.hub.load(str(REPO), name, source="local", device="meta")
        assert big.embed_dims == wavemsa.ARCH_SETTINGS[name[-1]]["embed_dims"]
