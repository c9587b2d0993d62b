"""The model's configuration: what travels with the weights.

One frozen dataclass describes SMTS-ViT and its two ablations (PAPER.md, Table I):
MTS-ViT is SMTS-ViT with ``sar_dates=0`` and S-ViT is one MSI date with one SAR date.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: The ten Sentinel-2 L2A bands at 10 m and 20 m, in the order the bundled models use.
S2_BANDS: tuple[str, ...] = ("B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B11", "B12")
#: Sentinel-1 GRD polarisations.
S1_BANDS: tuple[str, ...] = ("VV", "VH")
#: What SAR is worth to the bundled models, measured (model card, scripts/sar_information.py;
#: issue 18): said in the SAR parameter's help and in the log of a run with SAR.
SAR_FINDING = ("on two Flanders sites, Sentinel-1's change at a date explains only 2 to 8 % of "
               "what temporal interpolation misses there, and SMTS-ViT fills a wholly cloudy "
               "date within 2 % of MTS-ViT (no SAR), however it was trained: do not expect SAR "
               "to rescue such a date; the self-check decides how much of the model to use.")


@dataclass(frozen=True)
class ModelConfig:
    """Architecture and input layout of one SMTS-ViT model.

    Args:
        msi_bands: names of the MSI bands, in channel order.
        msi_dates: number of MSI dates in one input stack (6 in the paper, 1 for S-ViT).
        sar_bands: names of the SAR bands.
        sar_dates: number of SAR dates (5 in the paper; 0 means no SAR: MTS-ViT).
        width: token width D (the paper leaves it open; chosen by measurement).
        depth: number of transformer blocks (6 in the paper).
        heads: attention heads (8 in the paper).
        patch: side p of the square patch cut by the convolutional projection (5).
        mlp_ratio: hidden width of each block's MLP relative to ``width`` (4).
        mask_channels: also feed the per-date missing-pixel masks as input channels
            (our addition: with zero-filled clouds alone, a dark clear pixel and a hidden one
            look alike).
        prior: what hidden pixels hold in the input. ``"zeros"`` is the paper's choice (the
            decoder predicts the whole image). ``"temporal"`` (ours) pre-fills them by linear
            interpolation in time between the nearest clear dates, using the dates' true day
            offsets, and the decoder predicts a correction to that pre-fill whose last layer
            starts at zero: an untrained model *is* temporal interpolation.
        residual_scale: with the temporal prior, also add the same-date residual correction at
            this Gaussian scale in pixels (:mod:`.prior`; 0: none). The untrained model is then
            that corrected interpolation.
        time_channels: feed the model the dates' day offsets and, per pixel and date, the days to
            the nearest clear observation before and after (ours; spacing is 5..15 days, not
            fixed, and the paper's model knows a date only by its channel position).
        decoder: ``"linear"`` is the paper's linear patch decoder (one token emits its p x p
            pixels of every date and band). ``"conv"`` (ours) decodes each token to a few feature
            channels per pixel, then a 3 x 3 convolution over those features and the pre-filled
            input, with context across patch edges, gives the output (no 5 x 5 blocks).
        decoder_channels: feature channels per pixel of the ``"conv"`` decoder.
        pos_grid: side of the learned position-embedding grid, resized to the token grid.
        window: side in pixels of the windows the model was trained on; the window planner uses it.
        sar_input: ``"db"`` feeds the standardised backscatter (the paper); ``"change"`` (ours,
            issue 18) feeds each pixel's departure from its own mean over the input's SAR
            dates: what changed that day, without the level that differs between orbits,
            incidence angles and sites.
    """

    msi_bands: tuple[str, ...] = S2_BANDS
    msi_dates: int = 6
    sar_bands: tuple[str, ...] = S1_BANDS
    sar_dates: int = 5
    width: int = 128
    depth: int = 6
    heads: int = 8
    patch: int = 5
    mlp_ratio: float = 4.0
    mask_channels: bool = True
    prior: str = "zeros"
    residual_scale: float = 0.0
    time_channels: bool = False
    decoder: str = "linear"
    decoder_channels: int = 16
    pos_grid: int = 12
    window: int = 60
    sar_input: str = "db"

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")
        if self.prior not in ("zeros", "temporal"):
            raise ValueError(f"prior must be 'zeros' or 'temporal', not {self.prior!r}")
        if self.residual_scale < 0 or (self.residual_scale > 0 and self.prior != "temporal"):
            raise ValueError(f"residual_scale {self.residual_scale!r} needs the temporal prior "
                             "and must not be negative")
        if self.decoder not in ("linear", "conv"):
            raise ValueError(f"decoder must be 'linear' or 'conv', not {self.decoder!r}")
        if self.sar_input not in ("db", "change"):
            raise ValueError(f"sar_input must be 'db' or 'change', not {self.sar_input!r}")
        if self.window % self.patch:
            raise ValueError(f"window {self.window} is not a multiple of patch {self.patch}")
        object.__setattr__(self, "msi_bands", tuple(self.msi_bands))
        object.__setattr__(self, "sar_bands", tuple(self.sar_bands))

    @property
    def uses_sar(self) -> bool:
        return self.sar_dates > 0 and len(self.sar_bands) > 0

    @property
    def variant(self) -> str:
        """The paper's name for this configuration."""
        if self.msi_dates == 1:
            return "S-ViT"
        return "SMTS-ViT" if self.uses_sar else "MTS-ViT"

    @property
    def in_channels(self) -> int:
        n = self.msi_dates * len(self.msi_bands)
        if self.mask_channels:
            n += self.msi_dates
        if self.time_channels:
            n += 3 * self.msi_dates
        if self.uses_sar:
            n += self.sar_dates * len(self.sar_bands)
        return n

    @property
    def out_channels(self) -> int:
        return self.msi_dates * len(self.msi_bands)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["msi_bands"] = list(self.msi_bands)
        d["sar_bands"] = list(self.sar_bands)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})

    def replace(self, **changes) -> "ModelConfig":
        return ModelConfig.from_dict({**self.to_dict(), **changes})


#: Our recipe on top of the paper's architecture (see the model card): a date-aware temporal
#: prior corrected by the date's own residual (4 px), with a zero-initialised correction, day
#: offsets as input, a convolutional decoder.
OURS = {"prior": "temporal", "residual_scale": 4.0, "time_channels": True, "decoder": "conv"}


def smts_vit(**kw) -> ModelConfig:
    """SMTS-ViT: 6 MSI dates + 5 SAR dates."""
    return ModelConfig(**kw)


def mts_vit(**kw) -> ModelConfig:
    """MTS-ViT: 6 MSI dates, no SAR."""
    return ModelConfig(**{"sar_dates": 0, "sar_bands": (), **kw})


def s_vit(**kw) -> ModelConfig:
    """S-ViT: one MSI date with the SAR of that date."""
    return ModelConfig(**{"msi_dates": 1, "sar_dates": 1, **kw})


@dataclass(frozen=True)
class Normalisation:
    """Per-band mean and standard deviation used to standardise the model's inputs.

    MSI in reflectance (DN x 1e-4), SAR in dB. Stored with the weights.
    """

    msi_mean: tuple[float, ...]
    msi_std: tuple[float, ...]
    sar_mean: tuple[float, ...] = field(default=())
    sar_std: tuple[float, ...] = field(default=())

    def to_dict(self) -> dict:
        return {k: list(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalisation":
        return cls(**{k: tuple(float(x) for x in v) for k, v in d.items()})

    @classmethod
    def identity(cls, config: ModelConfig) -> "Normalisation":
        nb, ns = len(config.msi_bands), len(config.sar_bands) if config.uses_sar else 0
        return cls((0.0,) * nb, (1.0,) * nb, (0.0,) * ns, (1.0,) * ns)
