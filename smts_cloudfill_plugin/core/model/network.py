"""SMTS-ViT: a Vision Transformer that reconstructs cloudy pixels of an MSI time series.

Li, Wang, State, "Vision Transformer-Based Time-Series Image Reconstruction for
Cloud-Filling Applications", IGARSS 2025, arXiv:2506.19591 (see PAPER.md).

Data flow, top to bottom:
    MSI (B, T, C, H, W) reflectance, missing mask (B, T, H, W), SAR (B, Ts, Cs, H, W) dB,
    day offsets (B, T)
    -> standardise; missing pixels set to 0 (paper) or to the temporal prior (ours)
    -> stack all dates along channels (+ masks, + time channels, + SAR)
    -> convolutional patch projection (p x p patches -> tokens of width D)
    -> + learned 2-D position embedding (resized to the token grid)
    -> pre-norm transformer blocks -> LayerNorm
    -> decoder: linear patch decoder (D -> T * C * p * p, paper) or (ours) D -> a few features
       per pixel, then a 3 x 3 convolution with the input, a correction added to the prior
    -> de-standardise: all T MSI dates in reflectance.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig, Normalisation
from .prior import neighbours, nominal_days, residual_correction, temporal_prefill


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
        initialise: give the parameters their training start (False when a weights file's
            parameters replace them at once).
    """

    def __init__(self, config: ModelConfig, normalisation: Normalisation | None = None,
                 initialise: bool = True) -> None:
        super().__init__()
        self.config = config
        norm = normalisation or Normalisation.identity(config)
        self.normalisation = norm
        self.register_buffer("msi_mean", torch.tensor(norm.msi_mean, dtype=torch.float32).view(1, 1, -1, 1, 1))
        self.register_buffer("msi_std", torch.tensor(norm.msi_std, dtype=torch.float32).view(1, 1, -1, 1, 1))
        if config.uses_sar:
            self.register_buffer("sar_mean", torch.tensor(norm.sar_mean, dtype=torch.float32).view(1, 1, -1, 1, 1))
            self.register_buffer("sar_std", torch.tensor(norm.sar_std, dtype=torch.float32).view(1, 1, -1, 1, 1))
        d, p = config.width, config.patch
        self.patch_embed = nn.Conv2d(config.in_channels, d, kernel_size=p, stride=p)
        self.pos_embed = nn.Parameter(torch.randn(1, d, config.pos_grid, config.pos_grid) * 0.02)
        self.blocks = nn.Sequential(*[Block(d, config.heads, config.mlp_ratio)
                                      for _ in range(config.depth)])
        self.norm = nn.LayerNorm(d)
        if config.decoder == "linear":
            self.head = nn.Linear(d, config.out_channels * p * p)
        else:
            k = config.decoder_channels
            self.head = nn.Linear(d, k * p * p)
            self.refine = nn.Sequential(
                nn.Conv2d(k + config.out_channels + config.msi_dates, 2 * k, 3, padding=1),
                nn.GELU(), nn.Conv2d(2 * k, config.out_channels, 1))
        if not initialise:
            return
        self.apply(_init_weights)
        if config.prior == "temporal":
            # The correction starts at zero: the untrained model is temporal interpolation.
            last = self.head if config.decoder == "linear" else self.refine[-1]
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def prefill(self, msi: torch.Tensor, missing: torch.Tensor, days: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Standardised MSI with hidden pixels set to 0 (paper) or temporally interpolated, and
        corrected by the date's own residual where ``residual_scale`` is set; and that
        correction (standardised; None without one)."""
        x = (torch.nan_to_num(msi) - self.msi_mean) / self.msi_std
        x = x.masked_fill(missing.unsqueeze(2), 0.0)
        residual = None
        if self.config.prior == "temporal":
            filled = temporal_prefill(x, missing, days)
            if self.config.residual_scale > 0:
                residual = residual_correction(x, missing, days, self.config.residual_scale)
                filled = filled + residual
            x = filled
        return x, residual

    def encode_inputs(self, x: torch.Tensor, missing: torch.Tensor,
                      sar: torch.Tensor | None, days: torch.Tensor | None = None) -> torch.Tensor:
        """Stack the pre-filled dates, masks, time channels and SAR along channels:
        (B, in_channels, H, W)."""
        parts = [x.flatten(1, 2)]
        if self.config.mask_channels:
            parts.append(missing.to(x.dtype))
        if self.config.time_channels:
            parts.append(time_channels(missing, nominal_days(days, missing)).to(x.dtype))
        if self.config.uses_sar:
            if sar is None:
                raise ValueError(f"{self.config.variant} needs SAR input")
            s = (sar - self.sar_mean) / self.sar_std
            if self.config.sar_input == "change":
                s = s - torch.nanmean(s, dim=1, keepdim=True)
            parts.append(torch.nan_to_num(s).flatten(1, 2))
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
        """Patch decoder folded back to (B, channels, h*p, w*p): the output (linear) or the
        per-pixel features (conv)."""
        p = self.config.patch
        b = tokens.shape[0]
        y = self.head(tokens)
        c = y.shape[-1] // (p * p)
        y = y.reshape(b, h, w, c, p, p)
        return y.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h * p, w * p)

    def forward(self, msi: torch.Tensor, missing: torch.Tensor,
                sar: torch.Tensor | None = None, days: torch.Tensor | None = None) -> torch.Tensor:
        """Reconstruct every MSI date (:meth:`fill` without the residual)."""
        return self.fill(msi, missing, sar, days)[0]

    def fill(self, msi: torch.Tensor, missing: torch.Tensor, sar: torch.Tensor | None = None,
             days: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Reconstruct every MSI date, and give the same-date residual correction inside the
        model's prior (the self-check's blends subtract it, and need not compute it again).

        Args:
            msi: (B, T, C, H, W) reflectance; values under ``missing`` are ignored.
            missing: (B, T, H, W) bool, True where the pixel is cloudy or has no data.
            sar: (B, Ts, Cs, H, W) backscatter in dB (NaN allowed), or None for MTS-ViT.
            days: (B, T) days of each date since the first (None: the nominal 10-day steps).

        Returns:
            (B, T, C, H, W) reflectance for all pixels (the caller keeps the clear ones), and
            the residual correction in reflectance units ((B, T, C, H, W); None when the prior
            has none).
        """
        b, t, c, height, width = msi.shape
        p = self.config.patch
        filled, residual = self.prefill(msi, missing, days)
        x = self.encode_inputs(filled, missing, sar, days)
        pad_h, pad_w = (-height) % p, (-width) % p
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
        h, w = x.shape[-2] // p, x.shape[-1] // p
        y = self.forward_head(self.forward_features(x), h, w)
        if self.config.decoder == "conv":
            image = x[:, :self.config.out_channels + self.config.msi_dates] if \
                self.config.mask_channels else \
                torch.cat([x[:, :self.config.out_channels], missing.to(x.dtype)], 1)
            y = self.refine(torch.cat([y, image], 1))
        y = y[..., :height, :width].reshape(b, t, c, height, width)
        if self.config.prior == "temporal":
            y = y + filled  # the decoder predicts a correction to the temporal pre-fill
        return y * self.msi_std + self.msi_mean, \
            None if residual is None else residual * self.msi_std


#: Time channels are in units of this many days (and capped at CAP of them).
TIME_UNIT, TIME_CAP = 30.0, 3.0


def time_channels(missing: torch.Tensor, days: torch.Tensor) -> torch.Tensor:
    """(B, 3T, H, W): each date's offset from the window's middle, and per pixel the days back
    to the previous clear observation and on to the next one (capped where there is none)."""
    b, t, h, w = missing.shape
    idx, prev, nxt, has_prev, has_next = neighbours(missing)
    d = days.view(b, t, 1, 1).expand(b, t, h, w)
    dp = torch.gather(d, 1, prev)
    dn = torch.gather(d, 1, nxt)
    back = torch.where(has_prev, (d - dp) / TIME_UNIT, torch.full_like(d, TIME_CAP)).clamp_max(TIME_CAP)
    ahead = torch.where(has_next, (dn - d) / TIME_UNIT, torch.full_like(d, TIME_CAP)).clamp_max(TIME_CAP)
    centre = (days - days.mean(1, keepdim=True)) / TIME_UNIT
    return torch.cat([centre.view(b, t, 1, 1).expand(b, t, h, w), back, ahead], 1)


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
    head_out = config.out_channels if config.decoder == "linear" else config.decoder_channels
    per_token = (2 * config.in_channels * p * p * d            # patch projection
                 + config.depth * (2 * d * 3 * d + 2 * d * d    # qkv, proj
                                   + 2 * 2 * n * d              # q k^T and attn v
                                   + 2 * 2 * d * hidden)        # MLP
                 + 2 * d * head_out * p * p)                    # decoder
    per_pixel = per_token / (p * p)
    if config.decoder == "conv":
        k, c, t = config.decoder_channels, config.out_channels, config.msi_dates
        per_pixel += 2 * 9 * (k + c + t) * 2 * k + 2 * 2 * k * c   # 3 x 3 then 1 x 1
    return per_pixel
