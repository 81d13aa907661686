"""WaveFormerBackbone: the dense-prediction backbone the MMDetection/MMSegmentation folders register."""
import pytest
import timm
import torch

from wavemsa.backbone import WaveFormerBackbone
from wavemsa.errors import InputError


def test_multiscale_outputs_and_channels():
    backbone = WaveFormerBackbone("t", out_indices=(0, 1, 2, 3))
    feats = backbone(torch.randn(2, 3, 96, 128))
    assert backbone.out_channels == [32, 64, 128, 192]
    assert [tuple(f.shape) for f in feats] == [(2, 32, 24, 32), (2, 64, 12, 16), (2, 128, 6, 8), (2, 192, 3, 4)]
    partial = WaveFormerBackbone("t", out_indices=(1, 2))
    assert len(partial.stages) == 3 and not hasattr(partial.head, "weight")
    assert [f.shape[1] for f in partial(torch.randn(1, 3, 64, 64))] == [64, 128]


def test_frozen_stages_and_norm_eval():
    backbone = WaveFormerBackbone("t", frozen_stages=1, norm_eval=True)
    backbone.train()
    assert all(not p.requires_grad for p in backbone.stages[0].parameters())
    assert all(p.requires_grad for p in backbone.stages[1].parameters())
    assert not backbone.stages[0].training
    assert all(not m.training for m in backbone.modules() if isinstance(m, torch.nn.BatchNorm2d))
    stem_only = WaveFormerBackbone("t", frozen_stages=0)
    stem_only.train()
    assert all(not p.requires_grad for p in stem_only.stages[0].embed.parameters())
    assert all(p.requires_grad for p in stem_only.stages[0].blocks.parameters())


def test_init_cfg_loads_classification_checkpoint(tmp_path):
    cls_model = timm.create_model("wavemsa_t", num_classes=10)
    ema = timm.create_model("wavemsa_t", num_classes=10)
    path = tmp_path / "best.pth"
    torch.save({"model": cls_model.state_dict(), "model_ema": ema.state_dict(), "epoch": 1}, path)
    for use_ema, src in ((False, cls_model), (True, ema)):
        backbone = WaveFormerBackbone("t", init_cfg=dict(type="Pretrained", checkpoint=str(path), use_ema=use_ema))
        backbone.init_weights()
        torch.testing.assert_close(backbone.stages[1].blocks[0].attn.q.weight, src.stages[1].blocks[0].attn.q.weight)


def test_wrong_checkpoint_is_a_clear_error(tmp_path):
    """init_weights (the OpenMMLab runner calls it before training) names the config key and the file in an
    InputError: one line from the project's tools, the same message from the frameworks' own."""
    path = tmp_path / "s.pth"
    torch.save(timm.create_model("wavemsa_s").state_dict(), path)
    for checkpoint, message in [(path, r"checkpoint .*s\.pth does not fit WaveFormerBackbone .*shape mismatch"),
                                (tmp_path / "absent.pth", r"checkpoint not found: .*absent\.pth")]:
        backbone = WaveFormerBackbone("t", init_cfg=dict(type="Pretrained", checkpoint=str(checkpoint)))
        with pytest.raises(InputError, match=r"^model\.backbone\.init_cfg: " + message):
            backbone.init_weights()
    with pytest.raises(ValueError, match="unknown WaveFormer arch"):
        WaveFormerBackbone("xl")


def test_with_cp_backpropagates():
    backbone = WaveFormerBackbone("t", with_cp=True)
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    sum(o.sum() for o in backbone(x)).backward()
    assert x.grad is not None and all(p.grad is not None for p in backbone.stages[3].parameters())
