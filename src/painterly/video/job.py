"""The frame loop of painterly video (Ruder, Dosovitskiy and Brox 2016, "Artistic style transfer for
videos"), resumable and atomic.

Frame 1 is an ordinary coarse-to-fine run. Each later frame starts from the previous stylised frame
moved along the optical flow, at the final scale only, for a few iterations, with a ``TemporalLoss``
that keeps it close to that warped frame, and to frames t-2 and t-4 where it cannot (``hold``), wherever
the flow is reliable; disoccluded pixels and motion
boundaries start from the content frame (in the painting's palette) and are free, so the style fills them.
A frame that starts another shot (``cuts``) is painted afresh like frame 1, and the next frames go on
from it. ``temporal_weight=0`` paints every frame independently
(from the settings' init), for comparison. Every frame goes through ``jobs.Job`` (PNG with its record)
into a work folder beside the output, checkpointing beside its PNG, so a run killed or stopped inside
a frame goes on inside it next time; one ``TargetCache`` computes the style targets once and one
``StopToken`` ends the run.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..checkpoints import DEFAULT_EVERY
from ..engine import Event, StopToken, Stylizer
from ..errors import PainterlyError
from ..files import write_text_atomic
from ..images import load_image, read_metadata, style_colors, to_tensor
from ..jobs import Job, absolute, load_mask_and_init
from ..settings import MAX_SIZE, Settings, as_saved
from ..targets import TargetCache
from .cuts import HISTOGRAM_DISTANCE, UNRELIABLE_SHARE, is_cut
from .flow import Motion
from .hold import merged, offsets
from .options import VideoOptions
from .temporal import TemporalLoss
from .videoio import VideoInfo, check_output, probe, read_frames, require, write_video

SETTINGS_FILE = "settings.json"
CUT = "scene cut"  # a frame record's ``video.start`` when the frame starts a shot


@dataclass(frozen=True)
class FrameStarted:
    index: int  # 1-based, within the frames being made
    count: int
    width: int
    height: int


@dataclass(frozen=True)
class FrameDone:
    index: int
    count: int
    path: Path
    elapsed: float
    losses: dict[str, float]
    kept: bool  # finished by an earlier run of the same command


@dataclass(frozen=True)
class SceneCut:
    """Frame ``index`` starts another shot: it is painted afresh, like frame 1."""

    index: int
    count: int


VideoEvent = Event | FrameStarted | SceneCut | FrameDone


@dataclass
class VideoResult:
    output: Path | None  # None when stopped before the last frame
    frames_dir: Path
    frames: int  # finished frames
    count: int  # frames asked for
    fps: float
    interrupted: bool
    cuts: list[int]  # frames (1-based) painted afresh at a scene cut


class VideoJob:
    """Check everything up front (inputs, output, work folder); ``run`` makes the missing frames and
    the video. ``stop()`` ends the run after the current frame; ``token.stop()`` ends it at once,
    leaving the frame's checkpoint for the next run."""

    def __init__(
        self,
        settings: Settings,
        output: str | os.PathLike,
        options: VideoOptions | None = None,
        *,
        stop: StopToken | None = None,
        checkpoint_every: float = DEFAULT_EVERY,
    ) -> None:
        """``settings.content`` is the input video; every image option applies to each frame. The
        running frame saves a checkpoint beside its PNG every ``checkpoint_every`` seconds (0: never)."""
        require()
        self.checkpoint_every = checkpoint_every
        self.settings = absolute(settings.validated())
        self.options = (options or VideoOptions()).validated()
        self.info: VideoInfo = probe(self.settings.content)
        self.output = check_output(output, self.info)
        o = self.options
        self.shown = self.info.frame_range(o.start, o.end, o.max_frames)
        if not self.shown:
            raise PainterlyError(f"no frames between {o.start:g} s and the end of {self.info.path}")
        if self.settings.time_budget:
            raise PainterlyError("--time budgets a single image; a video's frames take --frame-iterations")
        own = max(self.info.width, self.info.height)  # size auto (0): the clip's own
        self.size = _even(self.info.width, self.info.height, self.settings.size or min(own, MAX_SIZE))
        self.frame_settings = self.settings.with_(size=max(self.size))
        self.frames_dir = self.output.with_suffix(".frames")
        self.token = stop if stop is not None else StopToken()
        self.targets = TargetCache()
        self._after_frame = False
        self.styles = [load_image(path, "style image") for path in self.settings.styles]
        self.mask, self.init = load_mask_and_init(self.settings)
        Stylizer(self.frame_settings).check_fits(Image.new("RGB", self.size), self.styles)
        self._check_work_folder()

    def stop(self) -> None:
        """Finish the current frame, then stop (its frames stay for the next run)."""
        self._after_frame = True

    @property
    def count(self) -> int:
        return len(self.shown)

    def frame_path(self, index: int) -> Path:
        return self.frames_dir / f"frame-{index:06d}.png"

    def finished(self) -> int:
        """How many frames, from the first on, an earlier run left in the work folder."""
        done = 0
        while done < self.count and self.frame_path(done + 1).is_file():
            done += 1
        return done

    def run(self, on_event: Callable[[VideoEvent], None] | None = None) -> VideoResult:
        emit = on_event or (lambda event: None)
        self.frames_dir.mkdir(exist_ok=True)
        write_text_atomic(
            self.frames_dir / SETTINGS_FILE, json.dumps(self._identity(), indent=2, sort_keys=True)
        )
        done = self.finished()
        later = self.frame_settings.with_(scales=1, iterations=self.options.frame_iterations)
        reach = offsets(self.options.temporal_frames)[-1]
        # (input frame, stylised frame) of the frames since the last cut, the latest last, as far back
        # as the temporal term reaches; the stylised ones are read back from their PNGs, so a resumed
        # run continues from exactly what an uninterrupted one would.
        history: list[tuple[Image.Image, Image.Image | None]] = []
        made, stopped, cuts = 0, False, []
        for index, (_, frame) in enumerate(read_frames(self.info, self.shown), start=1):
            content = frame.resize(self.size, Image.LANCZOS)
            path = self.frame_path(index)
            if index <= done:
                stylized = load_image(path, "finished frame") if index > done - reach else None
                emit(FrameDone(index, self.count, path, 0.0, {}, kept=True))
                cut = read_metadata(path).get("video", {}).get("start") == CUT
                history, made = [*([] if cut else history), (content, stylized)][-reach:], index
                cuts += [index] if cut else []
                continue
            if self._after_frame or self.token.stopped:
                stopped = True
                break
            emit(FrameStarted(index, self.count, *self.size))
            start = time.perf_counter()
            moved, cut = self._motion(history[-1] if history else None, content)
            if cut:
                emit(SceneCut(index, self.count))
            if moved is None:  # frame 1, a cut, independent frames: the full schedule from the init
                job, init, terms = self._job(self.frame_settings, path, cut=cut), self.init, []
            else:
                init, term = self._warm_start(moved, history, content)
                job, terms = self._job(later, path), [term]
            inputs = (content, self.styles, self.mask, init)
            record = job.run(emit, inputs=inputs, terms=terms, resume=job.unfinished)
            if record.interrupted:  # no finished frame: its checkpoint (if kept) goes on next time
                path.unlink(missing_ok=True)
                stopped = True
                break
            emit(FrameDone(index, self.count, path, time.perf_counter() - start, record.losses, kept=False))
            stylized = load_image(path, "finished frame")
            history, made = [*([] if cut else history), (content, stylized)][-reach:], index
            cuts += [index] if cut else []
        if not stopped:  # every frame there is (a clip may decode fewer than its packets promised)
            images = (load_image(self.frame_path(i), "finished frame") for i in range(1, made + 1))
            write_video(self.output, images, self.info.fps, self.size, self.info, self.shown)
        return VideoResult(
            output=None if stopped else self.output,
            frames_dir=self.frames_dir,
            frames=made,
            count=self.count if stopped else made,
            fps=float(self.info.fps),
            interrupted=stopped,
            cuts=cuts,
        )

    # --- pieces -----------------------------------------------------------------------------------

    def _job(self, settings: Settings, path: Path, cut: bool = False) -> Job:
        """A frame's job; a frame that starts a shot says so in its record (``video.start``)."""
        return Job(
            settings,
            path,
            targets=self.targets,
            stop=self.token,
            checkpoint_every=self.checkpoint_every,
            embed=(lambda record: {**record, "video": {"start": CUT}}) if cut else None,
        )

    def _motion(
        self, previous: tuple[Image.Image, Image.Image | None] | None, content: Image.Image
    ) -> tuple[Motion | None, bool]:
        """The flow from the previous input frame to ``content``, and whether it is a scene cut; no
        flow (None) when the frame starts afresh: the first, a cut, or independent frames."""
        if previous is None or self.options.temporal_weight == 0:
            return None, False
        from .flow import motion

        moved = motion(previous[0], content)
        return (None, True) if is_cut(previous[0], content, moved) else (moved, False)

    def _warm_start(
        self, moved: Motion, history: list[tuple[Image.Image, Image.Image | None]], content: Image.Image
    ) -> tuple[torch.Tensor, TemporalLoss]:
        """The start of a later frame and the temporal term that holds it to earlier stylised frames
        (t-1, t-2, t-4, ... as far as ``history`` goes) moved along the flow (``hold.merged``). Where
        none is reliable (newly visible pixels behind a moving object, motion boundaries) the start is
        the content frame, in the painting's palette if frame 1 started there: the warped value there
        drags the object's paint along as a smear that a few iterations cannot remove, and the photo's
        own colours left a pale halo (both seen in benchmarks/video.py)."""
        from .flow import as_array, motion

        warped, reliable = [moved.warp(as_array(history[-1][1]))], [moved.reliable]
        for back in offsets(self.options.temporal_frames)[1:]:
            if back <= len(history):
                earlier_input, earlier_output = history[-back]
                far = motion(earlier_input, content)
                warped.append(far.warp(as_array(earlier_output)))
                reliable.append(far.reliable)
        target, mask = (torch.from_numpy(a) for a in merged(warped, reliable))
        target, mask = target.permute(2, 0, 1)[None].contiguous(), mask[None, None]
        s = self.settings
        fill = (
            style_colors(content, self.styles, s.blend())
            if s.init == "style-colors" and self.mask is None and s.preserve_colors != "histogram"
            else content
        )
        start = mask * target + (1 - mask) * to_tensor(fill)
        return start.clamp(0, 1), TemporalLoss(target, mask, self.options.temporal_weight)

    def _identity(self) -> dict[str, Any]:
        """What the frames in the work folder depend on; a run with anything else must not mix in."""
        o = self.options
        return {
            "settings": json.loads(self.settings.to_json()),
            # what the preset meant when they were painted (another painterly version may differ)
            "schedule": [list(step) for step in self.frame_settings.schedule()],
            "video": {
                "input_bytes": self.info.path.stat().st_size,
                "first_frame": self.shown.start,
                "size": list(self.size),
                "temporal_weight": o.temporal_weight,
                "frame_iterations": o.frame_iterations if o.temporal_weight else 0,
                "scene_cuts": [HISTOGRAM_DISTANCE, UNRELIABLE_SHARE] if o.temporal_weight else [],
                # absent for independent frames, whose folders from before it stay good
                **({"temporal_frames": o.temporal_frames} if o.temporal_weight else {}),
            },
        }

    def _check_work_folder(self) -> None:
        folder = self.frames_dir
        if not folder.exists():
            return
        if not folder.is_dir():
            raise PainterlyError(f"{folder} is in the way of the work folder (not a folder)")
        try:
            stored = json.loads((folder / SETTINGS_FILE).read_text())
        except FileNotFoundError:
            if any(folder.iterdir()):
                raise PainterlyError(f"{folder} is not a painterly work folder; move it away") from None
            return
        except (OSError, ValueError):
            raise PainterlyError(
                f"{folder / SETTINGS_FILE} is damaged; delete {folder} to start over"
            ) from None
        wanted = self._identity()
        if isinstance(stored, dict) and "settings" in stored:
            stored["settings"] = as_saved(stored["settings"])
        if stored != wanted:
            differ = sorted(
                key
                for part in ("settings", "video")
                for key in set(stored.get(part, {})) | set(wanted[part])
                if stored.get(part, {}).get(key) != wanted[part].get(key)
            ) + (["schedule"] if stored.get("schedule") != wanted["schedule"] else []) or ["format"]
            raise PainterlyError(
                f"{folder} holds frames made with other settings ({', '.join(differ)}); "
                f"delete it or choose another output"
            )


def _even(width: int, height: int, size: int) -> tuple[int, int]:
    """The frame size for ``size`` (longest side), aspect kept, both sides even (as yuv420p needs)."""
    scale = size / max(width, height)
    return tuple(max(2, round(side * scale) // 2 * 2) for side in (width, height))  # type: ignore[return-value]
