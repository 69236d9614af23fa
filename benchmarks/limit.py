"""The limit: what share of this machine's plain-PyTorch VGG19 pass one painterly iteration reaches.

Plain: a VGG19 conv stack built here from nn.Conv2d / ReLU / MaxPool2d alone (no painterly code),
truncated where painterly's default layers end (relu5_1), channels-last, under the autocast precision
painterly picks (bf16 where /proc/cpuinfo has avx512_bf16 or amx_bf16, else fp32) and torch's thread
count as painterly leaves it; forward and backward to the input pixels. painterly: its own objective
(``Stylizer.objective``) evaluated and ``total.backward()`` called, as the engine's L-BFGS closure
does. Both at the same size, best of several passes after a warm-up; share = plain / painterly
(goal >= 90 %).

    flock /tmp/painterly-heavy.lock python benchmarks/limit.py [--quick]
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from common import best_of, machine, parser, ratio, table

# VGG19's conv widths by block (convs per block); "M": the pool that ends a block.
VGG19 = ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4)


def plain_vgg(last: str):
    """nn.Sequential of VGG19's first layers up to ``last`` (a conv, relu or pool name)."""
    from torch import nn

    layers, cin = [], 3
    for block, widths in enumerate(VGG19, 1):
        for i, cout in enumerate(widths, 1):
            layers += [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]
            cin = cout
            if last in (f"conv{block}_{i}", f"relu{block}_{i}"):
                return nn.Sequential(*layers[: -1 if last.startswith("conv") else None])
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
        if last == f"pool{block}":
            return nn.Sequential(*layers)
    raise ValueError(f"unknown VGG19 layer {last!r}")


def vgg_flops(h: int, w: int, last: str = "relu5_1") -> float:
    """Forward + input-gradient backward FLOPs of the convs up to ``last`` at h x w."""
    from torch import nn

    flops = 0.0
    for layer in plain_vgg(last):
        if isinstance(layer, nn.Conv2d):
            flops += 2 * (2 * layer.in_channels * layer.out_channels * 9 * h * w)
        elif isinstance(layer, nn.MaxPool2d):
            h, w = -(-h // 2), -(-w // 2)
    return flops


def _sync(device) -> Callable[[], None]:
    import torch

    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def plain_pass(
    h: int, w: int, precision: str, channels_last: bool, reps: int, last: str = "relu5_1", device="cpu"
) -> float:
    """Best seconds of one forward + backward (to the pixels) of the plain stack."""
    import torch

    device = torch.device(device)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    net = plain_vgg(last).to(device).to(memory_format=fmt).requires_grad_(False).eval()
    x = torch.rand(1, 3, h, w, device=device).contiguous(memory_format=fmt).requires_grad_(True)

    def step() -> None:
        x.grad = None
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            y = net(x)
        y.float().sum().backward()

    return best_of(step, reps, sync=_sync(device))


def painterly_pass(content: Path, style: Path, h: int, w: int, reps: int) -> tuple:
    """Best seconds of one objective evaluation + backward (the engine's closure), its precision,
    its deepest layer, its device and the seconds of its network alone."""
    from PIL import Image

    from painterly.engine import Stylizer
    from painterly.images import load_image, to_tensor
    from painterly.layers import LAYERS
    from painterly.settings import Settings

    settings = Settings(content=str(content), styles=(str(style),), size=max(h, w), scales=1)
    stylizer = Stylizer(settings)
    scaled = load_image(str(content), "content image").resize((w, h), Image.LANCZOS)
    objective = stylizer.objective(scaled, [load_image(str(style), "style image")])
    x = to_tensor(scaled).to(stylizer.device).requires_grad_(True)

    def step() -> None:
        x.grad = None
        total, _ = objective(x)
        total.backward()
        float(total.detach())

    seconds = best_of(step, reps, sync=_sync(stylizer.device))
    deepest = max((*settings.content_layers, *settings.style_layers), key=LAYERS.index)
    return seconds, stylizer.precision, deepest, stylizer.device, network_pass(stylizer, x, deepest, reps)


def network_pass(stylizer, x, last: str, reps: int) -> float:
    """Best seconds of painterly's own network alone (no losses) to ``last`` and back: where the gap
    between the plain pass and an iteration lies, in the network or in the losses."""
    import torch

    net, _ = stylizer.network()

    def step() -> None:
        x.grad = None
        with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=stylizer.precision == "bf16"):
            y = net(x.contiguous(memory_format=torch.channels_last), {last})[last]
        y.float().sum().backward()

    return best_of(step, reps, sync=_sync(stylizer.device))


def measure(content: Path, style: Path, h: int = 384, w: int = 512, reps: int = 5) -> dict:
    p, precision, last, device, network = painterly_pass(content, style, h, w, reps)
    plain = plain_pass(h, w, precision, True, reps, last, device)
    return {"plain": plain, "painterly": p, "share": ratio(plain, p), "network": network, "precision": precision, "last": last,
            "device": device.type, "h": h, "w": w, "gflop": vgg_flops(h, w, last) / 1e9}  # fmt: skip


def report(m: dict) -> None:
    table(
        f"the limit: VGG19 to {m['last']} at {m['w']}x{m['h']}, {m['precision']}, {m['device']}, "
        f"forward + backward to the pixels ({m['gflop']:.1f} GFLOP), best of several",
        ["pass", "s/pass", "GFLOP/s"],
        [
            ["plain PyTorch (nn.Conv2d/ReLU/MaxPool, channels-last)", m["plain"], m["gflop"] / m["plain"]],
            ["painterly's network alone (no losses)", m["network"], m["gflop"] / m["network"]],
            ["painterly objective + backward (one iteration)", m["painterly"], m["gflop"] / m["painterly"]],
        ],
    )
    print(f"share of the plain pass one painterly iteration reaches: {100 * m['share']:.1f} % (goal >= 90 %)")


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--height", type=int, default=384)
    ap.add_argument("--width", type=int, default=512)
    ap.add_argument("--reps", type=int, help="timed passes per side after one warm-up (default 5; quick 3)")
    args = ap.parse_args()
    print(machine())
    report(measure(args.content, args.style, args.height, args.width, args.reps or (3 if args.quick else 5)))


if __name__ == "__main__":
    main()
