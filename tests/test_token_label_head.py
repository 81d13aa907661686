"""The token-labelling head of WaveFormer follows timm's VOLO contract: the auxiliary term inside
``forward_head``, ``forward = forward_head(forward_features)``, MixToken only in ``forward_train``."""
from __future__ import annotations

import timm
import torch

import wavemsa  # noqa: F401
from wavemsa.token_label import box_fraction, rand_token_box, swap_box


def tl_model(**kwargs):
    return timm.create_model("wavemsa_t", num_classes=5, token_label=True, **kwargs)


def test_forward_is_forward_head_of_features_with_the_aux_term_in_both_modes():
    model = tl_model()
    x = torch.randn(2, 3, 64, 96)
    for train in (True, False):
        model.train(train)
        torch.manual_seed(0)
        feats = model.forward_features(x)
        tokens = model.forward_tokens_head(feats.flatten(2).transpose(1, 2))
        expected = model.head(tokens[:, 0]) + 0.5 * model.aux_head(tokens[:, 1:]).max(1).values
        torch.testing.assert_close(model.forward_head(feats), expected)
        assert model(x).shape == (2, 5)
    assert model.forward_head(feats, pre_logits=True).shape == (2, 192)
    torch.testing.assert_close(model.forward_head(feats, pre_logits=True), tokens[:, 0])


def test_reset_classifier_and_features_keep_working_with_the_aux_head():
    model = tl_model().eval()
    x = torch.randn(1, 3, 64, 64)
    model.reset_classifier(0)
    assert model.aux_head is None and model(x).shape == (1, 192)
    model.reset_classifier(3)
    assert model.aux_head.out_features == 3 and model(x).shape == (1, 3)
    feats = timm.create_model("wavemsa_t", features_only=True, token_label=True)(x)
    assert [f.shape[1] for f in feats] == [32, 64, 128, 192]
    assert set(tl_model().state_dict()) - set(timm.create_model("wavemsa_t", num_classes=5).state_dict()) == {
        "aux_head.weight", "aux_head.bias"}


def test_forward_train_without_mixing_returns_the_heads_of_forward():
    model = tl_model().eval()
    x = torch.randn(2, 3, 64, 64)
    cls, aux, box = model.forward_train(x)
    assert box == (0, 0, 0, 0) and aux.shape == (2, 4, 5)
    torch.testing.assert_close(cls + 0.5 * aux.max(1).values, model(x))
    plain = timm.create_model("wavemsa_t", num_classes=5)
    assert plain.forward_train(x).shape == (2, 5)  # no aux head: forward's logits


def test_full_box_swaps_the_images_and_unmixes_the_aux_logits():
    """A box over the whole grid feeds each sample the other image: the class logits are those of the
    flipped batch, the un-mixed aux logits those of the sample's own image."""
    model = tl_model().train()
    x = torch.randn(2, 3, 64, 64)
    cls, aux, box = model.forward_train(x, box=(0, 0, 2, 2))
    assert box == (0, 0, 2, 2)
    model.mix_token = False
    cls_flip, aux_flip, no_box = model.forward_train(x.flip(0))
    assert no_box == (0, 0, 0, 0)
    torch.testing.assert_close(cls, cls_flip, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(aux, aux_flip.flip(0), atol=1e-5, rtol=1e-4)


def test_mix_token_box_covers_whole_last_stage_tokens_on_the_stem_grid():
    """The box drawn on the last-stage grid, scaled by 8 on the stem grid, moves exactly its share of stem
    tokens from the mirrored sample, and the model mixes exactly those tokens."""
    torch.manual_seed(3)
    boxes = {rand_token_box((4, 3)) for _ in range(50)}
    assert len(boxes) > 5 and all(0 <= y1 <= y2 <= 4 and 0 <= x1 <= x2 <= 3 for y1, x1, y2, x2 in boxes)
    box = (1, 0, 3, 2)
    ids = torch.arange(4.0).view(4, 1, 1).expand(4, 32 * 24, 1)  # sample id of every stem token
    mixed = swap_box(ids, (32, 24), box, 8)
    for b in range(4):
        assert int((mixed[b] == 3 - b).sum()) == 16 * 16 == box_fraction(box, (4, 3)) * 32 * 24
        assert int((mixed[b] == b).sum()) == 32 * 24 - 256

    model = tl_model().train()
    seen = {}

    def keep(name, value) -> None:  # a hook that returns None leaves the output as it is
        seen.setdefault(name, value)

    model.stages[0].embed.register_forward_hook(lambda m, a, out: keep("stem", out.flatten(1, 2)))
    model.stages[0].blocks[0].register_forward_pre_hook(lambda m, a: keep("mixed", a[0]))
    model.forward_train(torch.randn(4, 3, 128, 96), box=box)  # stem grid 32 x 24, last-stage grid 4 x 3
    torch.testing.assert_close(seen["mixed"], swap_box(seen["stem"], (32, 24), box, 8), rtol=0, atol=0)
    assert not torch.equal(seen["mixed"], seen["stem"])


def test_compiled_forward_train_traces_once_whatever_the_box():
    """Under torch.compile the MixToken box (new every step) stays out of the traced graphs: no recompilation
    after the first steps (each new box would otherwise be a new graph, and after torch's cache limit the rest of
    the network would run uncompiled), and the pass is two whole graphs, the stem and everything after it (a break
    inside a stage's loop over its blocks would leave each block a graph of its own). The eager backend traces
    exactly as inductor does, without generating code."""
    from torch._dynamo.utils import counters

    model = timm.create_model("wavemsa_t", num_classes=5, token_label=True).train()
    step = torch.compile(model.forward_train, backend="eager", dynamic=False)
    x = torch.randn(4, 3, 64, 64)
    torch._dynamo.reset()
    counters.clear()
    boxes = set()
    for i in range(6):
        if i == 2:
            traced = counters["stats"]["unique_graphs"]
        boxes.add(step(x)[2])
    assert len(boxes) > 2  # the boxes did change
    assert counters["stats"]["unique_graphs"] == traced == 2
    torch._dynamo.reset()
