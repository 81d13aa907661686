"""MixToken of token labelling (Jiang et al., LV-ViT; used by Wave-ViT, VOLO and WaveFormer).

In training, the tokens inside a random box of the last-stage grid come from the image at the mirrored
batch position (``x.flip(0)``). The box is drawn on the last-stage grid (h x w tokens) and applied to the
stem's tokens scaled by the stride ratio (``scale``, 8 for stem stride 4 and last-stage stride 32), so
that it covers whole last-stage tokens. A box is ``(y1, x1, y2, x2)`` in last-stage tokens, end exclusive.
Every helper that sees a box runs eagerly under ``torch.compile``: the box changes every step, and a box inside a
compiled graph would make its numbers guards, so that each new box recompiled the pass.
"""
from __future__ import annotations

import math

import torch

__all__ = ["Box", "box_fraction", "mix_stem_tokens", "rand_token_box", "swap_box", "unmix_tokens"]

Box = tuple[int, int, int, int]


@torch.compiler.disable
def rand_token_box(grid: tuple[int, int], beta: float = 1.0) -> Box:
    """A CutMix box on an ``grid`` = (h, w) token grid: area fraction about ``1 - lam`` with
    ``lam ~ Beta(beta, beta)``, centre uniform over the grid, clipped to it (so it may be smaller or empty).

    Draws from torch's global generator (seeded by the trainer every epoch, so resumed runs replay it).
    """
    h, w = grid
    lam = float(torch.distributions.Beta(float(beta), float(beta)).sample())
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(h * cut), int(w * cut)
    cy, cx = int(torch.randint(h, ())), int(torch.randint(w, ()))
    y1, y2 = max(cy - cut_h // 2, 0), min(cy + (cut_h + 1) // 2, h)
    x1, x2 = max(cx - cut_w // 2, 0), min(cx + (cut_w + 1) // 2, w)
    return y1, x1, y2, x2


def box_fraction(box: Box, grid: tuple[int, int]) -> float:
    """Fraction of the ``grid`` (h, w) tokens inside ``box``."""
    y1, x1, y2, x2 = box
    return max(y2 - y1, 0) * max(x2 - x1, 0) / float(grid[0] * grid[1])


@torch.compiler.disable
def swap_box(tokens: torch.Tensor, grid: tuple[int, int], box: Box, scale: int = 1) -> torch.Tensor:
    """Tokens (B, N = h * w, C) of an ``grid`` = (h, w) map with the region ``box`` scaled by ``scale``
    (clipped to the grid) taken from sample ``B - 1 - b`` for every sample ``b``. Returns a new tensor.

    Applied to the stem tokens with ``scale`` = the stride ratio this mixes the images; applied to per-token
    outputs or targets on the last-stage grid with ``scale=1`` it mixes (or, being its own inverse, un-mixes)
    them by exactly the same box.
    """
    y1, x1, y2, x2 = (v * scale for v in box)
    if y2 <= y1 or x2 <= x1:
        return tokens
    B, N, C = tokens.shape
    h, w = grid
    if h * w != N:
        raise ValueError(f"swap_box: {N} tokens do not form the {h}x{w} grid")
    maps = tokens.reshape(B, h, w, C)
    out = maps.clone()
    out[:, y1:y2, x1:x2] = maps.flip(0)[:, y1:y2, x1:x2]
    return out.reshape(B, N, C)


@torch.compiler.disable
def mix_stem_tokens(stem: torch.Tensor, box: Box | None, beta: float, scale: int, used: list) -> torch.Tensor:
    """MixToken on the stem's (B, H, W, C) map: ``box`` (drawn on the last-stage grid, ``scale`` times coarser,
    when None) mixed in from the mirrored batch position; the box and that grid are appended to ``used``."""
    B, H, W, C = stem.shape
    grid = (math.ceil(H / scale), math.ceil(W / scale))
    drawn = box if box is not None else rand_token_box(grid, beta)
    used.append((drawn, grid))
    return swap_box(stem.reshape(B, H * W, C), (H, W), drawn, scale).reshape(B, H, W, C)


@torch.compiler.disable
def unmix_tokens(aux: torch.Tensor, used: list) -> tuple[torch.Tensor, Box]:
    """Per-token logits (B, N, K) on the last-stage grid un-mixed by the box in ``used`` (none: unchanged), and
    that box ((0, 0, 0, 0) when none)."""
    if not used:
        return aux, (0, 0, 0, 0)
    drawn, grid = used[0]
    return swap_box(aux, grid, drawn), drawn
