"""Loss modules over feature maps: content, three style losses, total variation, masked (guided) Gram.

Every loss is divided by a scale taken from its target, so each layer starts near 1 whatever the image
size, the layer depth or the style: one set of user weights then looks the same at 256 and 2048 px, and
L-BFGS sees well-scaled gradients. No I/O here.
"""

from __future__ import annotations

import torch
from torch import nn

_EPS = 1e-8


class _Gram(torch.autograd.Function):
    """F^T F of a (positions, channels) map, returned in float32.

    The product runs in the features' own precision: bf16 matmuls accumulate in float32 (oneDNN,
    cuBLAS), so only the output is rounded (0.13 % of the Gram's norm, measured on VGG maps), and they
    run 3-7x faster than float32 on bf16 CPUs. Backward is one product, ``F (dG + dG^T)``, where
    autograd's rule for ``F.T @ F`` takes two and a sum of (positions, channels) gradients.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(flat)
        return (flat.T @ flat).float()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (flat,) = ctx.saved_tensors
        return flat @ (grad + grad.T).to(flat.dtype)


def _positions(features: torch.Tensor) -> torch.Tensor:
    """(1, N, H, W) -> (H*W, N): a view for channels-last maps (the network's layout), no copy."""
    _, n, h, w = features.shape
    return features.permute(0, 2, 3, 1).reshape(h * w, n)


def gram_matrix(features: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """Gram matrix G_ij = <F_i, F_j> of a (1, N, H, W) map, float32; divided by N*M when ``normalize``.

    With the N*M division, Gatys' E_l = 1/(4 N^2 M^2) sum (G - A)^2 equals 1/4 sum (Gn - An)^2, and
    Grams of different image sizes become comparable.
    """
    _, n, h, w = features.shape
    gram = _Gram.apply(_positions(features))
    return gram / (n * h * w) if normalize else gram


class ContentLoss(nn.Module):
    """Squared feature error relative to the target's mean square (sum form in Gatys; scaled here)."""

    def __init__(self, target: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("target", target.detach().float())
        self.scale = float(self.target.pow(2).mean()) + _EPS

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return (features.float() - self.target).pow(2).mean() / self.scale


class StyleLoss(nn.Module):
    """Base for style losses against one or more (target, blend weight) pairs.

    Several styles are blended by a weighted sum of per-style distances; for the Gram loss this has the
    same minimiser as matching the weighted mean of the target Grams. The sum is divided by the blended
    targets' own size (``statistics(...)[-1]``), which makes the loss scale-free.
    """

    def __init__(self, targets: list[tuple], blend: list[float], mask: torch.Tensor | None = None) -> None:
        """``targets``: per style image, ``target(features)`` of its feature map at this layer (computed
        once and reusable by any number of losses, masked or not)."""
        super().__init__()
        # mask: (1, 1, H, W) in [0, 1] at this layer's resolution, or None for the whole image.
        self.mask = mask
        self.stats = targets
        self.reblend(blend)

    def reblend(self, blend: list[float]) -> None:
        """Weigh the styles anew (steering); the scale follows the blended targets' size."""
        self.blend = blend
        self.scale = sum(w * float(t[-1]) for w, t in zip(blend, self.stats, strict=True)) + _EPS

    @classmethod
    def target(cls, features: torch.Tensor) -> tuple:
        """The statistics of a style feature map that this loss compares against."""
        return cls.statistics(features.detach().float(), None)

    @staticmethod
    def statistics(features: torch.Tensor, mask: torch.Tensor | None) -> tuple:
        raise NotImplementedError

    def distance(self, stats, target) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        stats = self.statistics(features, self.mask)
        return (
            sum(w * self.distance(stats, t) for w, t in zip(self.blend, self.stats, strict=True)) / self.scale
        )


def _masked(features: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, float]:
    """Features weighted by the mask (guided Gram, Gatys et al. 2017) and the mask's effective size."""
    _, n, h, w = features.shape
    if mask is None:
        return features.reshape(n, h * w), float(h * w)
    return (features * mask).reshape(n, h * w), float(mask.pow(2).sum()) + _EPS


class GramLoss(StyleLoss):
    """The method's Gram loss, divided by the target Gram's squared norm."""

    @staticmethod
    def statistics(features, mask):
        if mask is None:
            gram = gram_matrix(features)
        else:
            size = features.shape[1] * (float(mask.pow(2).sum()) + _EPS)
            gram = gram_matrix(features * mask.to(features.dtype), normalize=False) / size
        return gram, gram.pow(2).sum()

    def distance(self, stats, target):
        return (stats[0] - target[0]).pow(2).sum()


class MeanStdLoss(StyleLoss):
    """Matches per-channel mean and standard deviation (the statistics AdaIN aligns)."""

    @staticmethod
    def statistics(features, mask):
        flat, size = _masked(features.float(), mask)
        mean = flat.sum(1) / size
        if mask is None:
            var = flat.var(1, unbiased=False)
        else:
            m = mask.reshape(1, -1)
            var = ((flat - mean[:, None] * m) ** 2).sum(1) / size
        std = (var + _EPS).sqrt()
        return mean, std, mean.pow(2).mean() + std.pow(2).mean()

    def distance(self, stats, target):
        return (stats[0] - target[0]).pow(2).mean() + (stats[1] - target[1]).pow(2).mean()


class SlicedWassersteinLoss(StyleLoss):
    """Sliced Wasserstein distance between feature distributions (Heitz et al. 2021).

    Projects features on fresh random directions each call and compares sorted projections, so it
    matches the whole distribution, not only second moments. Masks select the pixels that take part.
    """

    def __init__(self, targets, blend, mask=None, generator: torch.Generator | None = None) -> None:
        self.generator = generator
        super().__init__(targets, blend, mask)

    @staticmethod
    def statistics(features, mask):
        n = features.shape[1]
        flat = features.float().reshape(n, -1)
        if mask is not None:
            flat = flat[:, mask.reshape(-1) > 0.5]
        return flat, flat.pow(2).mean()

    def distance(self, stats, target):
        source, target_flat = stats[0], target[0]
        n = source.shape[0]
        dirs = torch.randn(n, n, generator=self.generator, device="cpu").to(source.device)
        dirs = dirs / dirs.norm(dim=0, keepdim=True)
        src = (dirs.T @ source).sort(dim=1).values
        tgt = (dirs.T @ target_flat).sort(dim=1).values
        if tgt.shape[1] != src.shape[1]:
            tgt = nn.functional.interpolate(tgt[None], size=src.shape[1], mode="nearest")[0]
        return (src - tgt).pow(2).mean()


STYLE_LOSSES: dict[str, type[StyleLoss]] = {
    "gram": GramLoss,
    "mean-std": MeanStdLoss,
    "sliced-wasserstein": SlicedWassersteinLoss,
}


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of neighbouring pixels: discourages high-frequency noise."""
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return dx.pow(2).mean() + dy.pow(2).mean()
