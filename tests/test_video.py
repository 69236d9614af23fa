"""painterly video on tiny clips generated here with PyAV: frames, fps and audio kept, resume, settings
refused, temporal stability, flow and temporal-loss pieces, bad input, the missing extra."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")
pytest.importorskip("cv2")

from test_cli import painterly  # noqa: E402

from painterly.errors import PainterlyError  # noqa: E402
from painterly.jobs import read_record  # noqa: E402
from painterly.settings import Settings  # noqa: E402
from painterly.video.job import FrameDone, FrameStarted, VideoJob  # noqa: E402
from painterly.video.options import VideoOptions  # noqa: E402
from painterly.video.videoio import probe, read_frames, write_video  # noqa: E402

TINY = Settings(styles=("starry_night",), size=48, scales=1, iterations=4)
FAST = VideoOptions(frame_iterations=3)
TINY_CLI = ["--size", "48", "--scales", "1", "--iterations", "4", "--frame-iterations", "3", "--quiet"]


def textured(width: int, height: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((width, height), Image.BICUBIC))


def make_clip(path, frames=6, size=(48, 32), fps=12, audio=True):
    """A textured background panning 1 px per frame with a bright square moving 2 px per frame, and
    (with ``audio``) a 440 Hz tone as AAC."""
    width, height = size
    background = textured(width + frames + 8, height)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=22050) if audio else None
        for t in range(frames):
            image = background[:, t : t + width].copy()
            image[6:16, 4 + 2 * t : 14 + 2 * t] = (250, 240, 40)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = t
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            n = round(22050 * frames / fps)
            tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / 22050)).astype(np.float32)[None]
            for s in range(0, n, 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(tone[:, s : s + 1024]), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 22050, s
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path


def panned_shots(path, images, shots=("tubingen.jpg", "golden_gate.jpg"), frames=3, size=(64, 48)):
    """Each photo in ``shots`` panned 2 px per frame for ``frames`` frames, then a cut to the next."""
    width, height = size
    clip = [
        Image.open(images / photo).convert("RGB").resize((width * 3 // 2, height), Image.LANCZOS)
        for photo in shots
    ]
    clip = [photo.crop((2 * t, 0, 2 * t + width, height)) for photo in clip for t in range(frames)]
    write_video(path, clip, Fraction(12), size)
    return path


def audio_packets(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for p in container.demux(container.streams.audio[0]) if p.size)


def test_cli_keeps_frame_count_fps_aspect_and_audio(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=5, size=(64, 36), fps=15)
    out = painterly("video", clip, "starry_night", "-o", tmp_path / "out.mp4", *TINY_CLI, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.fps, info.audio) == (5, Fraction(15), True)
    assert (info.width, info.height) == (48, 26)  # 64x36 at 48 px: 27 rounded to even for yuv420p
    assert audio_packets(tmp_path / "out.mp4") >= audio_packets(clip) - 1  # copied, not dropped
    frames = sorted((tmp_path / "out.frames").glob("frame-*.png"))
    assert len(frames) == 5 and read_record(frames[-1]).settings["content"] == str(clip)


def test_stop_after_frame_then_resume_keeps_finished_frames(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", audio=False)
    settings = TINY.with_(content=str(clip))
    job = VideoJob(settings, tmp_path / "out.mp4", FAST)

    def stop_in_frame_3(event):
        if isinstance(event, FrameStarted) and event.index == 3:
            job.stop()  # as the CLI's first Ctrl-C does: frame 3 still finishes

    first = job.run(stop_in_frame_3)
    assert first.interrupted and first.frames == 3 and first.output is None
    assert not (tmp_path / "out.mp4").exists()
    kept = {p.name: p.read_bytes() for p in (tmp_path / "out.frames").glob("frame-*.png")}
    assert len(kept) == 3

    events = []
    again = VideoJob(settings, tmp_path / "out.mp4", FAST).run(events.append)
    assert not again.interrupted and probe(tmp_path / "out.mp4").frames == 6
    done = [e for e in events if isinstance(e, FrameDone)]
    assert [e.kept for e in done] == [True] * 3 + [False] * 3
    assert {name: (tmp_path / "out.frames" / name).read_bytes() for name in kept} == kept


def test_stop_token_keeps_the_unfinished_frames_checkpoint_and_the_next_run_goes_on_inside_it(tmp_path):
    from painterly.events import Iteration, Resumed

    clip = make_clip(tmp_path / "in.mp4", frames=3, audio=False)
    settings, frames = TINY.with_(content=str(clip)), tmp_path / "out.frames"
    job = VideoJob(settings, tmp_path / "out.mp4", FAST)
    started = []

    def stop_now(event):
        started.extend([event.index] if isinstance(event, FrameStarted) else [])
        if isinstance(event, Iteration) and started[-1] == 2 and event.iteration == 2:
            job.token.stop()

    result = job.run(stop_now)
    assert result.interrupted and result.frames == 1
    assert [p.name for p in sorted(frames.glob("*.png"))] == ["frame-000001.png"]  # no half frame
    assert (frames / "frame-000002.png.ckpt").is_file()

    events = []
    again = VideoJob(settings, tmp_path / "out.mp4", FAST).run(events.append)
    assert not again.interrupted and again.frames == 3
    resumed = [e for e in events if isinstance(e, Resumed)]
    assert [(e.done, e.total) for e in resumed] == [(2, FAST.frame_iterations)]
    assert events.index(resumed[0]) == events.index(FrameStarted(2, 3, *job.size)) + 1
    assert not list(frames.glob("*.ckpt"))


def test_a_killed_video_goes_on_inside_its_frame_with_the_same_pixels(tmp_path):
    """SIGKILL inside frame 2 (the warped start and temporal term): the same command again keeps frame
    1, continues frame 2 from its checkpoint, then frame 3; frames and audio as an uninterrupted run."""
    from test_cli import killed_at_checkpoint

    clip = make_clip(tmp_path / "in.mp4", frames=3, size=(96, 64))
    args = ["video", clip, "starry_night", "--size", "96", "--scales", "1", "--iterations", "10"]
    args += ["--frame-iterations", "40", "--checkpoint-every", "0.3"]
    assert painterly(*args, "-o", tmp_path / "reference.mp4", cwd=tmp_path).returncode == 0
    frames = tmp_path / "out.frames"
    killed_at_checkpoint(
        *args, "-o", tmp_path / "out.mp4", checkpoint=frames / "frame-000002.png.ckpt", cwd=tmp_path
    )
    assert sorted(p.name for p in frames.glob("frame-*.png")) == ["frame-000001.png"]
    assert not (tmp_path / "out.mp4").exists()

    again = painterly(*args, "-o", tmp_path / "out.mp4", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "1 finished frame(s) kept" in again.stderr
    resumed = re.findall(r"frame (\d+): resuming at \d+% \((\d+) of 40 iterations\)", again.stderr)
    assert len(resumed) == 1 and resumed[0][0] == "2" and 0 < int(resumed[0][1]) < 40, again.stderr
    for i in (1, 2, 3):
        name = f"frame-{i:06d}.png"
        made, expected = (
            np.asarray(Image.open(d / name), dtype=np.int16) for d in (frames, tmp_path / "reference.frames")
        )
        assert np.abs(made - expected).max() == 0, name
    assert not list(frames.glob("*.ckpt"))
    info = probe(tmp_path / "out.mp4")
    assert (info.frames, info.audio) == (3, True)


def test_max_frames_then_more_and_settings_mismatch_refused(tmp_path, monkeypatch):
    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    settings = TINY.with_(content=str(clip))
    import painterly

    short = painterly.stylize_video(
        clip,
        "starry_night",
        tmp_path / "out.mp4",
        size=48,
        scales=1,
        iterations=4,
        frame_iterations=3,
        max_frames=2,
    )
    assert short.frames == 2 and probe(tmp_path / "out.mp4").frames == 2
    with pytest.raises(PainterlyError, match=r"other settings \(style_weight\)"):
        VideoJob(settings.with_(style_weight=9.0), tmp_path / "out.mp4", FAST)
    with pytest.raises(PainterlyError, match=r"other settings \(temporal_weight\)"):
        VideoJob(settings, tmp_path / "out.mp4", VideoOptions(frame_iterations=3, temporal_weight=1.0))
    with monkeypatch.context() as m:  # a later version whose preset means other iterations
        m.setattr(type(settings), "schedule", lambda self: [(1.0, 99)])
        with pytest.raises(PainterlyError, match=r"other settings \(schedule\)"):
            VideoJob(settings, tmp_path / "out.mp4", FAST)
    full = VideoJob(settings, tmp_path / "out.mp4", FAST).run()
    assert full.frames == 4 and probe(tmp_path / "out.mp4").frames == 4


def test_flow_recovers_a_shift_and_masks_what_cannot_be_seen():
    from painterly.video.flow import as_array, motion, warping_error

    scene = textured(72, 48)
    previous, current = Image.fromarray(scene[:, 4:68]), Image.fromarray(scene[:, 7:71])  # pan by 3 px
    moved = motion(previous, current)
    center = moved.backward[8:-8, 8:-8]
    assert np.allclose(center[..., 0], 3, atol=0.5) and np.allclose(center[..., 1], 0, atol=0.5)
    assert moved.reliable[:, -2:].mean() < 0.5  # came in from outside the previous frame
    assert moved.reliable[:, 8:-8].mean() > 0.9
    warped = moved.warp(as_array(previous))
    assert np.abs(warped - as_array(current))[8:-8, 8:-8].mean() < 0.03
    assert warping_error(previous, current, moved) < 0.1 * warping_error(
        previous, current, motion(current, current)
    )


def test_a_cut_is_found_and_pans_are_not(tmp_path, images):
    """Pans over tubingen then golden_gate (through H.264): only the first frame of the second shot is
    a cut, by both measures and with a margin on each side of the thresholds."""
    from painterly.video import cuts
    from painterly.video.flow import motion

    clip = panned_shots(tmp_path / "in.mp4", images, frames=4)
    frames = [frame for _, frame in read_frames(probe(clip), range(8))]
    pairs = list(zip(frames, frames[1:], strict=False))
    found = [i + 2 for i, (a, b) in enumerate(pairs) if cuts.is_cut(a, b, motion(a, b))]
    assert found == [5]
    colors = [cuts.histogram_distance(a, b) for a, b in pairs]
    lost = [cuts.unreliable_share(motion(a, b)) for a, b in pairs]
    pans = colors[:3] + colors[4:], lost[:3] + lost[4:]
    assert max(pans[0]) < cuts.HISTOGRAM_DISTANCE / 2 < cuts.HISTOGRAM_DISTANCE * 1.5 < colors[3], colors
    assert max(pans[1]) < cuts.UNRELIABLE_SHARE / 2 and lost[3] > cuts.UNRELIABLE_SHARE * 1.3, lost


def test_after_a_cut_the_frame_is_painted_afresh_without_the_previous_shot(tmp_path, images, monkeypatch):
    """The cut frame (4) is painted like frame 1: it matches that frame painted on its own, while a
    start warped across the cut (detection off) keeps the previous shot's paint; frame 5 goes on from
    frame 4. The progress output and frame 4's record say so, also when the frames are kept."""
    from painterly.images import read_metadata
    from painterly.jobs import Job
    from painterly.video import job as video_job
    from painterly.video.flow import as_array

    clip = panned_shots(tmp_path / "in.mp4", images)
    args = ["--size", "64", "--scales", "1", "--iterations", "12", "--frame-iterations", "6"]
    out = painterly("video", clip, "starry_night", "-o", tmp_path / "out.mp4", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count("scene cut") == 2, out.stderr  # the frame's message, and the summary
    assert "frame 4: scene cut, starting afresh" in out.stderr and "scene cuts at frame(s) 4" in out.stderr
    fresh = tmp_path / "out.frames" / "frame-000004.png"
    assert read_metadata(fresh)["video"] == {"start": "scene cut"}
    assert read_record(tmp_path / "out.frames" / "frame-000005.png").iterations == 6  # went on from 4

    settings = Settings(styles=("starry_night",), size=64, scales=1, iterations=12, content=str(clip))
    kept = VideoJob(settings, tmp_path / "out.mp4", VideoOptions(frame_iterations=6)).run()
    assert kept.cuts == [4]  # read back from the kept frames' records

    monkeypatch.setattr(video_job, "is_cut", lambda *a: False)
    across = VideoJob(settings, tmp_path / "across.mp4", VideoOptions(frame_iterations=6))
    assert across.run().cuts == []
    _, frame = next(read_frames(probe(clip), range(3, 4)))
    frame.save(tmp_path / "frame4.png")
    Job(settings.with_(content=str(tmp_path / "frame4.png")), tmp_path / "alone.png").run()

    def distance(path) -> float:
        return float(np.abs(as_array(Image.open(path)) - as_array(Image.open(tmp_path / "alone.png"))).mean())

    afresh, warped = distance(fresh), distance(across.frame_path(4))
    assert afresh < 0.005 and warped > 0.02, (afresh, warped)  # measured: 0.0 and 0.038


def test_temporal_loss_counts_reliable_pixels_at_any_scale():
    import torch

    from painterly.video.temporal import TemporalLoss

    target = torch.zeros(1, 3, 8, 8)
    mask = torch.ones(1, 1, 8, 8)
    mask[..., :, :4] = 0
    term = TemporalLoss(target, mask, weight=2.0)
    image = torch.zeros(1, 3, 8, 8)
    image[..., :, :4] = 1  # differs only where the flow is not trusted
    assert float(term(image, {})) == 0
    image[..., :, 4:] = 0.5
    assert float(term(image, {})) == pytest.approx(0.25 / 2)
    assert float(term(torch.full((1, 3, 4, 4), 0.5), {})) == pytest.approx(0.25 / 2)  # coarser scale


def test_each_earlier_frame_holds_only_where_no_closer_one_is_trusted():
    from painterly.video.hold import merged, offsets

    assert offsets(3) == [1, 2, 4]
    near, far = np.zeros((2, 3, 3), np.float32), np.ones((2, 3, 3), np.float32)
    seen_near = np.array([[1, 1, 0], [0, 0, 0]], np.float32)  # t-1 trusted on the left of the top row
    seen_far = np.array([[1, 0, 1], [0, 0, 0]], np.float32)
    target, mask = merged([near, far], [seen_near, seen_far])
    assert mask.tolist() == [[1, 1, 1], [0, 0, 0]]
    assert target[0, :, 0].tolist() == [0, 0, 1]  # the closer frame wins where both are trusted


@pytest.mark.slow
def test_temporal_term_lowers_the_warping_error(tmp_path):
    from painterly.video.flow import motion, warping_error

    clip = make_clip(tmp_path / "in.mp4", frames=6, size=(64, 48), audio=False)
    info = probe(clip)
    inputs = [frame for _, frame in read_frames(info, range(info.frames))]
    settings = TINY.with_(content=str(clip), size=64, iterations=15)
    errors = {}
    for weight in (0.0, VideoOptions().temporal_weight):
        out = tmp_path / f"out-{weight:g}.mp4"
        job = VideoJob(settings, out, VideoOptions(temporal_weight=weight, frame_iterations=8))
        job.run()
        frames = [Image.open(job.frame_path(i)).convert("RGB") for i in range(1, 7)]
        errors[weight] = np.mean(
            [warping_error(frames[t - 1], frames[t], motion(inputs[t - 1], inputs[t])) for t in range(1, 6)]
        )
    independent, temporal = errors.values()
    assert temporal < 0.7 * independent, errors


def test_unreliable_pixels_start_from_the_frame_in_the_paintings_palette(tmp_path):
    from types import SimpleNamespace

    from painterly.images import style_colors, to_tensor

    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    job = VideoJob(TINY.with_(content=str(clip)), tmp_path / "out.mp4", FAST)
    content = Image.new("RGB", (48, 32), (200, 220, 255))  # a pale sky
    nowhere = SimpleNamespace(reliable=np.zeros((32, 48), np.float32), warp=lambda a: a)  # trusts no pixel
    start, _ = job._warm_start(nowhere, [(content, content)], content)
    expected = to_tensor(style_colors(content, job.styles, [1.0]))
    assert float((start - expected).abs().max()) < 1e-6
    assert float((start - to_tensor(content)).abs().mean()) > 0.05  # not the photo's own colours


@pytest.mark.parametrize(
    "args, message",
    [
        (["{d}/missing.mp4", "starry_night"], "input video not found"),
        (["{d}/text.mp4", "starry_night"], "is not a readable video"),
        (["{d}/sound.m4a", "starry_night"], "has no video stream"),
        (["{d}/empty.avi", "starry_night"], "has no frames"),
        (["{d}/in.mp4", "starry_night", "-o", "{d}/in.mp4"], "overwrite the input"),
        (["{d}/in.mp4", "starry_night", "-o", "{d}/nofolder/out.mp4"], "output folder does not exist"),
        (["{d}/in.mp4", "starry_night", "-o", "{d}/out.avi"], "output video must end in"),
        (["{d}/in.mp4", "starry_night", "-o", "{d}/out.webm"], "cannot write .webm video"),  # AAC in WebM
        (["{d}/in.mp4", "starry_night", "--temporal-weight", "-1"], "temporal-weight must be"),
        (["{d}/in.mp4", "starry_night", "--start", "5"], "no frames between"),
        (["{d}/in.mp4", "starry_night", "--size", "-3"], "size must be"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    make_clip(tmp_path / "in.mp4", frames=2)
    (tmp_path / "text.mp4").write_text("not a video")
    with av.open(str(tmp_path / "sound.m4a"), "w") as out:
        stream = out.add_stream("aac", rate=22050)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        silence.sample_rate, silence.pts = 22050, 0
        out.mux(stream.encode(silence))
        out.mux(stream.encode(None))
    with av.open(str(tmp_path / "empty.avi"), "w") as out:
        stream = out.add_stream("mpeg4", rate=12)
        stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
        out.start_encoding()
    before = sorted(os.listdir(tmp_path))
    args = [a.format(d=tmp_path) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.mp4")]
    out = painterly("video", *TINY_CLI, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_without_the_video_extra_says_how_to_install(tmp_path):
    clip = make_clip(tmp_path / "in.mp4", frames=2, audio=False)
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text("import sys\nsys.modules['av'] = None  # import av fails\n")
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(blocker), os.environ.get("PYTHONPATH")]))
    )
    out = painterly(
        "video", clip, "starry_night", "-o", tmp_path / "out.mp4", *TINY_CLI, env=env, cwd=tmp_path
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        == "painterly: error: painterly video needs PyAV and OpenCV: pip install 'painterly[video]'"
    )
    assert not (tmp_path / "out.mp4").exists() and not (tmp_path / "out.frames").exists()


def test_ctrl_c_finishes_the_frame_and_says_how_to_resume(tmp_path):
    import signal
    import time

    clip = make_clip(tmp_path / "in.mp4", frames=4, audio=False)
    args = ["video", clip, "starry_night", "-o", tmp_path / "out.mp4", *TINY_CLI[:-1]]
    proc = subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", *map(str, args)], stderr=subprocess.PIPE, text=True
    )
    seen, deadline = "", time.time() + 120
    while time.time() < deadline and "frame 2" not in seen:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, rest
    assert "stopped after frame 2/4" in rest and "run the same command again to continue" in rest
    assert len(list((tmp_path / "out.frames").glob("frame-*.png"))) == 2
    assert not (tmp_path / "out.mp4").exists()
