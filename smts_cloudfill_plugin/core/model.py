"""SMTS-ViT: a Vision Transformer that reconstructs cloudy pixels of an MSI time series.

Li, Wang, State, "Vision Transformer-Based Time-Series Image Reconstruction for
Cloud-Filling Applications", IGARSS 2025, arXiv:2506.19591 (see PAPER.md).

Data flow, top to bottom:
    MSI (B, T, C, H, W) reflectance, missing mask (B, T, H, W), SAR (B, Ts, Cs, H, W) dB
    -> standardise, zero the missing pixels, stack all dates along channels
    -> convolutional patch projection (p x p patches -> tokens of width D)
    -> + learned 2-D position embedding (resized to the token grid)
    -> pre-norm transformer blocks -> LayerNorm
    -> linear patch decoder (D -> T * C * p * p) folded back into the image
    -> de-standardise: all T MSI dates in reflectance.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig, Normalisation


class Attention(nn.Module):
    """Multi-head self-attention (fused qkv, PyTorch's scaled-dot-product kernel)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v)
        return self.proj(x.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Sequential):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


class Block(nn.Module):
    """Pre-norm transformer block: two residual lines."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class SmtsVit(nn.Module):
    """SMTS-ViT, and MTS-ViT / S-ViT through its :class:`ModelConfig`.

    Args:
        config: architecture and input layout.
        normalisation: per-band statistics; kept as buffers so the weights file is self-contained.
    """

    def __init__(self, config: ModelConfig, normalisation: Normalisation | None = None) -> None:
        super().__init__()
        self.config = config
        norm = normalisation or Normalisation.identity(config)
        self.normalisation = norm
        self.register_buffer("msi_mean", torch.tensor(norm.msi_mean).view(1, 1, -1, 1, 1))
        self.register_buffer("msi_std", torch.tensor(norm.msi_std).view(1, 1, -1, 1, 1))
        if config.uses_sar:
            self.register_buffer("sar_mean", torch.tensor(norm.sar_mean).view(1, 1, -1, 1, 1))
            self.register_buffer("sar_std", torch.tensor(norm.sar_std).view(1, 1, -1, 1, 1))
        d, p = config.width, config.patch
        self.patch_embed = nn.Conv2d(config.in_channels, d, kernel_size=p, stride=p)
        self.pos_embed = nn.Parameter(torch.randn(1, d, config.pos_grid, config.pos_grid) * 0.02)
        self.blocks = nn.Sequential(*[Block(d, config.heads, config.mlp_ratio)
                                      for _ in range(config.depth)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, config.out_channels * p * p)
        self.apply(_init_weights)

    def prefill(self, msi: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
        """Standardised MSI with hidden pixels set to 0 (paper) or temporally interpolated."""
        x = (torch.nan_to_num(msi) - self.msi_mean) / self.msi_std
        x = x.masked_fill(missing.unsqueeze(2), 0.0)
        if self.config.prior == "temporal":
            x = temporal_prefill(x, missing)
        return x

    def encode_inputs(self, x: torch.Tensor, missing: torch.Tensor,
                      sar: torch.Tensor | None) -> torch.Tensor:
        """Stack the pre-filled dates, masks and SAR along channels: (B, in_channels, H, W)."""
        parts = [x.flatten(1, 2)]
        if self.config.mask_channels:
            parts.append(missing.to(x.dtype))
        if self.config.uses_sar:
            if sar is None:
                raise ValueError(f"{self.config.variant} needs SAR input")
            s = torch.nan_to_num((sar - self.sar_mean) / self.sar_std)
            parts.append(s.flatten(1, 2))
        return torch.cat(parts, dim=1)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Patch projection, position embedding and encoder: (B, h*w, D) tokens."""
        tokens = self.patch_embed(x)
        h, w = tokens.shape[-2:]
        pos = self.pos_embed
        if (h, w) != pos.shape[-2:]:
            pos = F.interpolate(pos, size=(h, w), mode="bilinear", align_corners=False)
        tokens = (tokens + pos).flatten(2).transpose(1, 2)
        return self.norm(self.blocks(tokens))

    def forward_head(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """Linear patch decoder folded back to (B, T*C, h*p, w*p)."""
        p, c = self.config.patch, self.config.out_channels
        b = tokens.shape[0]
        y = self.head(tokens).reshape(b, h, w, c, p, p)
        return y.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h * p, w * p)

    def forward(self, msi: torch.Tensor, missing: torch.Tensor,
                sar: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct every MSI date.

        Args:
            msi: (B, T, C, H, W) reflectance; values under ``missing`` are ignored.
            missing: (B, T, H, W) bool, True where the pixel is cloudy or has no data.
            sar: (B, Ts, Cs, H, W) backscatter in dB (NaN allowed), or None for MTS-ViT.

        Returns:
            (B, T, C, H, W) reflectance for all pixels; the caller keeps the clear ones.
        """
        b, t, c, height, width = msi.shape
        p = self.config.patch
        filled = self.prefill(msi, missing)
        x = self.encode_inputs(filled, missing, sar)
        pad_h, pad_w = (-height) % p, (-width) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        h, w = x.shape[-2] // p, x.shape[-1] // p
        y = self.forward_head(self.forward_features(x), h, w)[..., :height, :width]
        y = y.reshape(b, t, c, height, width)
        if self.config.prior == "temporal":
            y = y + filled  # the decoder predicts a correction to the temporal pre-fill
        return y * self.msi_std + self.msi_mean


def temporal_prefill(x: torch.Tensor, missing: torch.Tensor) -> torch.Tensor:
    """Fill missing pixels of (B, T, C, H, W) by linear interpolation between the nearest clear
    dates, by date position (the model knows dates only by position); nearest clear date at the
    ends; 0 (the band mean) where a pixel has no clear date."""
    t = x.shape[1]
    clear = ~missing
    idx = torch.arange(t, device=x.device).view(1, t, 1, 1).expand_as(missing)
    prev = torch.where(clear, idx, torch.full_like(idx, -1)).cummax(dim=1).values
    nxt = torch.where(clear, idx, torch.full_like(idx, t)).flip(1).cummin(dim=1).values.flip(1)
    has_prev, has_next = prev >= 0, nxt < t
    p = torch.where(has_prev, prev, torch.where(has_next, nxt, torch.zeros_like(prev)))
    n = torch.where(has_next, nxt, p)
    p = torch.where(has_prev, p, n)
    span = (n - p).clamp_min(1).to(x.dtype)
    w = torch.where(n > p, (idx - p).to(x.dtype) / span, torch.zeros_like(span))
    gather = lambda i: torch.gather(x, 1, i.unsqueeze(2).expand_as(x))  # noqa: E731
    vp, vn = gather(p), gather(n)
    est = vp + w.unsqueeze(2) * (vn - vp)
    est = est.masked_fill(~(has_prev | has_next).unsqueeze(2), 0.0)
    return torch.where(missing.unsqueeze(2), est, x)


def _init_weights(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def flops_per_pixel(config: ModelConfig) -> float:
    """Multiply-adds x 2 of one forward pass, per output pixel, for a ``config.window`` window."""
    p, d = config.patch, config.width
    n = (config.window // p) ** 2
    hidden = int(d * config.mlp_ratio)
    per_token = (2 * config.in_channels * p * p * d            # patch projection
                 + config.depth * (2 * d * 3 * d + 2 * d * d    # qkv, proj
                                   + 2 * 2 * n * d              # q k^T and attn v
                                   + 2 * 2 * d * hidden)        # MLP
                 + 2 * d * config.out_channels * p * p)        # decoder
    return per_token / (p * p)
