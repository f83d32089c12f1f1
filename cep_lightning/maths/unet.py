"""A small convolutional U-Net noise predictor eps_theta(x_t, t) for images, on flat vectors like every model here.

Images travel through the project as flat rows [B, C·H·W] (the diffusion core, the samplers and guidance treat
them as actions); the U-Net reshapes them to [B, C, H, W] inside, so nothing else needs to know they are images.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from cep_lightning.maths.nets import FourierTime, SiLU


class ConvBlock(nn.Module):
    """h = Conv(SiLU(GN(x))) + W_c SiLU(c);  h = Conv(SiLU(GN(h)));  return h + skip(x) (a 1×1 conv where widths
    differ): the residual block of DDPM's U-Net with its time condition c added per channel."""

    def __init__(self, in_ch: int, out_ch: int, cond_dim: int, groups: int = 8):
        super().__init__()
        self.norm1 = nn.GroupNorm(min(groups, in_ch), in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.cond = nn.Sequential(SiLU(), nn.Linear(cond_dim, out_ch))
        self.norm2 = nn.GroupNorm(min(groups, out_ch), out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.act = SiLU()
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, c: Tensor) -> Tensor:  # [B, in, H, W], [B, cond] -> [B, out, H, W]
        h = self.conv1(self.act(self.norm1(x))) + self.cond(c)[:, :, None, None]
        return self.conv2(self.act(self.norm2(h))) + self.skip(x)


class ImageUNet(nn.Module):
    """eps_theta(x_t, t) on images [B, C·H·W] (flattened C × H × W), two resolutions:

    h0 = Conv3(x) (H × W, w1);  d1 = Block(w1, w1)(h0);  d2 = Block(w2, w2)(Conv3/2(d1)) (H/2 × W/2);
    m = Block(w2, w2)(d2);  u1 = Block(2 w1, w1)([Upsample×2(Conv3(m)), d1]);  eps = Conv3(SiLU(GN(u1))),
    with widths (w1, w2) = ``channels`` and every block conditioned on c = MLP(Fourier features of t).
    H and W must be even. ``action_dim`` = C·H·W, the length of the rows it reads and returns.
    """

    def __init__(
        self,
        image_shape: Sequence[int] = (1, 8, 8),
        channels: Sequence[int] = (32, 64),
        time_dim: int = 32,
        cond_dim: int = 128,
    ):
        super().__init__()
        c, h, w = image_shape
        if h % 2 or w % 2:
            raise ValueError(f"ImageUNet needs an even height and width (it halves them once), got {h} × {w}.")
        w1, w2 = channels
        self.image_shape = (c, h, w)
        self.action_dim = c * h * w
        self.time = FourierTime(time_dim)
        self.cond = nn.Sequential(nn.Linear(time_dim, cond_dim), SiLU(), nn.Linear(cond_dim, cond_dim))
        self.inp = nn.Conv2d(c, w1, 3, padding=1)
        self.down1 = ConvBlock(w1, w1, cond_dim)
        self.downsample = nn.Conv2d(w1, w2, 3, stride=2, padding=1)
        self.down2 = ConvBlock(w2, w2, cond_dim)
        self.mid = ConvBlock(w2, w2, cond_dim)
        self.upsample = nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(w2, w1, 3, padding=1))
        self.up1 = ConvBlock(2 * w1, w1, cond_dim)
        self.head = nn.Sequential(nn.GroupNorm(min(8, w1), w1), SiLU(), nn.Conv2d(w1, c, 3, padding=1))

    def forward(self, x_t: Tensor, t: Tensor, s: Tensor | None = None) -> Tensor:  # [B, D], [B] -> [B, D]
        """``s`` (an empty state, as the bandits pass it) is ignored: the model is unconditional."""
        batch = x_t.shape[:-1]
        x = x_t.reshape(-1, *self.image_shape)
        c = self.cond(self.time(t.reshape(-1)))
        d1 = self.down1(self.inp(x), c)
        d2 = self.down2(self.downsample(d1), c)
        m = self.mid(d2, c)
        u1 = self.up1(torch.cat([self.upsample(m), d1], dim=1), c)
        return self.head(u1).reshape(*batch, self.action_dim)
