"""painterly video on a generated clip: temporal stability, style and speed, independent vs temporal.

The clip (written into results/) is a slow pan across a photo from ../shared/images with two textured
shapes moving over it. Both runs paint it with the same image settings; one with ``--temporal-weight
0`` (independent frames), one with the video defaults (or the weights given). Printed:

- the mean temporal warping error between consecutive frames (frame t-1 moved to t by the INPUT's
  optical flow, squared difference averaged where the consistency check trusts the flow; Ruder et al.
  2016), for the input clip itself and for both runs; once with DIS (the flow the painting itself
  used, so the temporal run is partly consistent by construction) and once with Farneback's flow;
- the style loss of every output frame under the same objective (mean, and its ratio);
- seconds per frame, first and later.

A contact sheet of 6 consecutive frames (independent on top, temporal below) goes to results/.
Finished frames stay in results/*.frames, so a rerun with the same settings only re-measures.

    python benchmarks/video.py                      # 24 frames at 256 px, about 15 minutes on 2 cores
    python benchmarks/video.py --size 128 --frames 12 --temporal-weight 500
"""

from __future__ import annotations

import argparse
import statistics
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
from common import IMAGES, RESULTS
from PIL import Image, ImageDraw

from painterly.engine import Stylizer
from painterly.images import contact_sheet, fit, load_image, to_tensor
from painterly.jobs import read_record
from painterly.settings import Settings
from painterly.video.flow import Motion, dis_flow, farneback_flow, motion, warping_error
from painterly.video.job import FrameDone, VideoJob
from painterly.video.options import VideoOptions
from painterly.video.videoio import probe, read_frames, write_video

LONG = 5  # frames back for the long-range warping error


def make_clip(path: Path, frames: int, size: int, photo: str = "golden_gate.jpg") -> None:
    """A slow pan (1.5 px/frame at 256 px) across ``photo`` with a checkered disc and a noise-textured
    square moving over it."""
    width, height = size, size * 3 // 4 // 2 * 2
    speed = size / 256
    background = fit(load_image(IMAGES / photo), round(width * 1.6))
    background = background.crop((0, 0, background.width, min(background.height, height)))
    background = background.resize((background.width, height))
    rng = np.random.default_rng(0)
    noise = Image.fromarray((rng.random((height // 3, height // 3, 3)) * 255).astype(np.uint8))
    checker = np.kron((np.indices((6, 6)).sum(0) % 2) * 200 + 30, np.ones((height // 24, height // 24)))
    checker = Image.fromarray(checker.astype(np.uint8)).convert("RGB").resize((height // 4, height // 4))
    disc = Image.new("L", checker.size, 0)
    ImageDraw.Draw(disc).ellipse((0, 0, *disc.size), fill=255)
    clip = []
    for t in range(frames):
        frame = background.crop((round(1.5 * speed * t), 0, round(1.5 * speed * t) + width, height))
        frame.paste(checker, (round(width * 0.1 + 3 * speed * t), round(height * 0.55)), disc)
        frame.paste(noise, (round(width * 0.7 - 2 * speed * t), round(height * 0.1 + 1.5 * speed * t)))
        clip.append(frame)
    write_video(path, clip, Fraction(24), clip[0].size)


def paint(clip_path: Path, output: Path, settings: Settings, options: VideoOptions) -> dict:
    job = VideoJob(settings.with_(content=str(clip_path)), output, options)
    seconds: dict[int, float] = {}

    def on_event(event) -> None:
        if isinstance(event, FrameDone) and not event.kept:
            seconds[event.index] = event.elapsed

    start = time.perf_counter()
    result = job.run(on_event)
    assert not result.interrupted
    paths = [job.frame_path(i) for i in range(1, job.count + 1)]
    # Frames kept from an earlier run report the engine time recorded in them.
    times = [seconds.get(i + 1, read_record(p).elapsed) for i, p in enumerate(paths)]
    return {
        "frames": [load_image(p) for p in paths],
        "first": times[0],
        "later": statistics.mean(times[1:]),
        "wall": time.perf_counter() - start,
    }


def style_losses(settings: Settings, clip: list[Image.Image], frames: list[Image.Image]) -> list[float]:
    """Each output frame's style loss under one objective (its content frame, the settings' styles)."""
    stylizer = Stylizer(settings.with_(size=max(clip[0].size)))
    styles = [load_image(s, "style image") for s in settings.styles]
    out = []
    for content, frame in zip(clip, frames, strict=True):
        _, parts = stylizer.objective(content, styles)(to_tensor(frame))
        out.append(float(parts["style"]))
    return out


def steps(clip: list[Image.Image], estimate=dis_flow) -> list[Motion]:
    """The input's motion from each frame (from the second on) back to the one before."""
    return [motion(clip[t - 1], clip[t], estimate) for t in range(1, len(clip))]


def warp_errors(frames: list[Image.Image], moves: list[Motion], span: int = 1) -> list[float]:
    """Frame t against frame t - ``span`` moved to it along the input's flow, composed step by step
    (``span`` > 1: drift that frame-to-frame errors hide)."""
    errors = []
    for t in range(span, len(frames)):
        moved = moves[t - 1]
        for back in range(2, span + 1):
            moved = moved.then(moves[t - back])
        errors.append(warping_error(frames[t - span], frames[t], moved))
    return errors


def main() -> None:
    defaults = VideoOptions()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--style", default="starry_night")
    parser.add_argument("--temporal-weight", type=float, default=defaults.temporal_weight)
    parser.add_argument("--frame-iterations", type=int, default=defaults.frame_iterations)
    parser.add_argument("--temporal-frames", type=int, default=defaults.temporal_frames)
    parser.add_argument(
        "--sheet-from", type=int, default=10, help="first frame (1-based) of the contact sheet"
    )
    args = parser.parse_args()
    RESULTS.mkdir(exist_ok=True)
    stem = RESULTS / f"video-{args.size}px-{args.frames}f"
    clip_path = stem.with_name(stem.name + "-input.mp4")
    if not clip_path.is_file():  # kept: the work folders' frames belong to this very file
        make_clip(clip_path, args.frames, args.size)
    info = probe(clip_path)
    clip = [frame for _, frame in read_frames(info, range(info.frames))]
    settings = Settings(styles=(args.style,), size=args.size)
    chosen = VideoOptions(
        temporal_weight=args.temporal_weight,
        frame_iterations=args.frame_iterations,
        temporal_frames=args.temporal_frames,
    )
    base = f"{stem.name}-tw{args.temporal_weight:g}-fi{args.frame_iterations}-tf{args.temporal_frames}"
    runs = {
        "independent": (VideoOptions(temporal_weight=0), stem.with_name(stem.name + "-independent.mp4")),
        "temporal": (chosen, stem.with_name(base + ".mp4")),
    }
    moves = {"dis": steps(clip), "fb": steps(clip, farneback_flow)}
    measured = {}
    for name, (options, output) in runs.items():
        print(f"painting {name} -> {output.name}", flush=True)
        measured[name] = paint(clip_path, output, settings, options)
        frames = measured[name]["frames"]
        measured[name]["warp"] = statistics.mean(warp_errors(frames, moves["dis"]))
        # The painting used DIS flow on these very frames; Farneback's flow is an independent check.
        measured[name]["warp-fb"] = statistics.mean(warp_errors(frames, moves["fb"]))
        measured[name]["warp-fb5"] = statistics.mean(warp_errors(frames, moves["fb"], LONG))
        measured[name]["style"] = statistics.mean(style_losses(settings, clip, measured[name]["frames"]))
    input_error = statistics.mean(warp_errors(clip, moves["dis"]))
    input_error_fb = statistics.mean(warp_errors(clip, moves["fb"]))
    input_error_fb5 = statistics.mean(warp_errors(clip, moves["fb"], LONG))
    ind, tmp = measured["independent"], measured["temporal"]
    print(f"\nclip: {args.frames} frames, {clip[0].width}x{clip[0].height}, style {args.style}")
    print(
        f"temporal weight {args.temporal_weight:g}, {args.frame_iterations} iterations per later frame, "
        f"held to {args.temporal_frames} earlier frame(s)\n"
    )
    print(f"{'':28}{'input':>12}{'independent':>14}{'temporal':>12}{'ratio':>8}")
    print(
        f"{'mean warping error':28}{input_error:>12.5f}{ind['warp']:>14.5f}{tmp['warp']:>12.5f}"
        f"{tmp['warp'] / ind['warp']:>8.2f}"
    )
    print(
        f"{'  same, Farneback flow':28}{input_error_fb:>12.5f}{ind['warp-fb']:>14.5f}{tmp['warp-fb']:>12.5f}"
        f"{tmp['warp-fb'] / ind['warp-fb']:>8.2f}"
    )
    print(
        f"{f'  t vs t-{LONG}, Farneback':28}{input_error_fb5:>12.5f}{ind['warp-fb5']:>14.5f}"
        f"{tmp['warp-fb5']:>12.5f}{tmp['warp-fb5'] / ind['warp-fb5']:>8.2f}"
    )
    print(
        f"{'mean style loss':28}{'':>12}{ind['style']:>14.4f}{tmp['style']:>12.4f}{tmp['style'] / ind['style']:>8.2f}"
    )
    print(f"{'s, first frame':28}{'':>12}{ind['first']:>14.1f}{tmp['first']:>12.1f}")
    print(f"{'s per later frame':28}{'':>12}{ind['later']:>14.1f}{tmp['later']:>12.1f}")
    first = max(0, min(args.sheet_from - 1, args.frames - 6))
    shown = range(first, first + 6)
    tiles = [ind["frames"][i] for i in shown] + [tmp["frames"][i] for i in shown]
    labels = [f"independent {i + 1}" for i in shown] + [f"temporal {i + 1}" for i in shown]
    sheet = stem.with_name(base + "-sheet.png")
    contact_sheet(tiles, labels, 6).save(sheet)
    print(f"\ncontact sheet: {sheet}")


if __name__ == "__main__":
    main()
