"""What a ViT attends to: CLS→patch maps, attention rollout, and per-head specialisation statistics.

All functions take attention probabilities as returned by an eager ViT, stacked over layers:
``(layers, batch, heads, tokens, tokens)`` with token 0 the CLS token and the rest the patches in
row-major order (or a single layer ``(batch, heads, tokens, tokens)`` where noted).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def cls_attention(layer_attn: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """One layer's CLS→patch attention per head, on the patch grid: (batch, heads, rows, cols).

    Rows are not renormalised: the mass the CLS token keeps for itself is simply not shown.
    """
    batch, heads = layer_attn.shape[:2]
    return layer_attn[:, :, 0, 1:].reshape(batch, heads, *grid)


def attention_rollout(attn: torch.Tensor, residual: float = 0.5) -> torch.Tensor:
    """Abnar & Zuidema's rollout: how much each token's output draws on each input token.

    Per layer the heads are averaged, the skip connection is accounted for as
    ``residual * I + (1 - residual) * A`` (rows renormalised), and the layers are multiplied from
    the first to the last. Returns (batch, tokens, tokens); row 0 is the CLS token's rollout.
    """
    layers, batch, _, tokens, _ = attn.shape
    eye = torch.eye(tokens, dtype=attn.dtype, device=attn.device)
    joint = eye.expand(batch, tokens, tokens)
    for layer in range(layers):
        a = residual * eye + (1.0 - residual) * attn[layer].mean(dim=1)
        a = a / a.sum(dim=-1, keepdim=True)
        joint = a @ joint
    return joint


def rollout_map(attn: torch.Tensor, grid: tuple[int, int], residual: float = 0.5) -> torch.Tensor:
    """The CLS row of the rollout on the patch grid: (batch, rows, cols)."""
    joint = attention_rollout(attn, residual)
    return joint[:, 0, 1:].reshape(joint.shape[0], *grid)


def upsample_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Grid maps (..., rows, cols) → bilinear (..., H, W), each min-max scaled to [0, 1] for overlays."""
    lead = maps.shape[:-2]
    flat = maps.reshape(-1, 1, *maps.shape[-2:]).float()
    up = F.interpolate(flat, size=size, mode="bilinear", align_corners=False).flatten(1)
    low = up.min(dim=1, keepdim=True).values
    high = up.max(dim=1, keepdim=True).values
    up = (up - low) / (high - low).clamp_min(1e-12)
    return up.reshape(*lead, *size)


def cls_entropy(attn: torch.Tensor) -> torch.Tensor:
    """Entropy of each head's CLS→patch distribution, divided by log(#patches): (layers, heads).

    1 means the head spreads the CLS token's attention uniformly over the image, 0 means it looks
    at a single patch. Averaged over the batch.
    """
    p = attn[:, :, :, 0, 1:]
    p = p / p.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    entropy = -(p * p.clamp_min(1e-12).log()).sum(dim=-1)
    return (entropy / math.log(p.shape[-1])).mean(dim=1)


def mean_attention_distance(attn: torch.Tensor, grid: tuple[int, int], patch_size: int) -> torch.Tensor:
    """Dosovitskiy et al.'s mean attention distance in pixels per (layer, head).

    For every patch query, the image-space distance to each patch key weighted by the attention
    it pays that key (renormalised over patch keys, the CLS key left out), averaged over queries
    and the batch. Small = local heads (convolution-like), large = global heads.
    """
    rows, cols = grid
    ys, xs = torch.meshgrid(torch.arange(rows), torch.arange(cols), indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], dim=-1).to(attn.device, attn.dtype) * patch_size
    dist = torch.cdist(pos, pos)
    p = attn[..., 1:, 1:]
    p = p / p.sum(dim=-1, keepdim=True).clamp_min(1e-12)
    return (p * dist).sum(dim=-1).mean(dim=-1).mean(dim=1)
