"""``painterly batch``: planning, manifests, resume, failures, results.json, and the Ray executor."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_cli import killed_at_checkpoint

from painterly.batch.command import build_plan, run_batch
from painterly.errors import PainterlyError
from painterly.images import read_metadata
from painterly.jobs import read_record
from painterly.settings import Settings

TINY = dict(size=48, scales=1, iterations=3)
TINY_ARGS = ["--size", "48", "--scales", "1", "--iterations", "3", "--quiet"]


def defaults(**changes):
    return asdict(Settings(**{**TINY, **changes}))


def painterly(*args, timeout=300):
    return subprocess.run(
        [sys.executable, "-m", "painterly.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def results(outdir):
    return {job["name"]: job for job in json.loads((outdir / "results.json").read_text())["jobs"]}


def pixels(path):
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


@pytest.fixture
def photos(images, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("tubingen.jpg", "golden_gate.jpg"):
        shutil.copy(images / name, folder / name)
    (folder / "notes.txt").write_text("not an image, not a job")
    return folder


# --- planning and manifests ---------------------------------------------------------------------


def test_plan_expands_folders_files_and_builtin_styles(photos, images):
    specs, columns = build_plan([str(photos)], ["starry_night", str(images / "the_scream.jpg")], defaults())
    assert [s.name for s in specs] == [
        "golden_gate__starry_night.png",
        "golden_gate__the_scream.png",
        "tubingen__starry_night.png",
        "tubingen__the_scream.png",
    ]
    assert columns == 2
    assert specs[0].settings.content == str(photos / "golden_gate.jpg")  # absolute, as records carry it
    zipped, _ = build_plan([str(photos)], ["starry_night", "the_scream"], defaults(), zip_=True)
    assert [s.name for s in zipped] == ["golden_gate__starry_night.png", "tubingen__the_scream.png"]
    with pytest.raises(PainterlyError, match="--zip pairs in order"):
        build_plan([str(photos)], ["starry_night"], defaults(), zip_=True)
    with pytest.raises(PainterlyError, match="content image not found"):
        build_plan([str(photos / "missing.jpg")], ["starry_night"], defaults())


def test_colliding_names_get_a_stable_settings_hash(images, tmp_path):
    manifest = tmp_path / "jobs.csv"
    content = images / "tubingen.jpg"
    manifest.write_text(
        f"content,styles,style_weight\n{content},starry_night,5\n{content},starry_night,20\n"
        f"{content},starry_night,20\n"  # the same job twice is one job
    )
    first, _ = build_plan([], [], defaults(), manifest=str(manifest))
    again, _ = build_plan([], [], defaults(), manifest=str(manifest))
    names = [s.name for s in first]
    assert len(names) == 2 and names == [s.name for s in again]
    assert all(
        n.startswith("tubingen__starry_night__") and len(n) == len("tubingen__starry_night__") + 12
        for n in names
    )
    assert len(set(names)) == 2


def test_manifest_values_are_typed_by_settings(images, tmp_path):
    (tmp_path / "photo.jpg").write_bytes((images / "tubingen.jpg").read_bytes())
    csv = tmp_path / "jobs.csv"
    csv.write_text(
        "content,styles,size,style_weight,style_layers,preserve_colors\n"
        'photo.jpg,"starry_night,the_scream",64,12.5,"relu1_1,relu3_1",luminance\n'
        "photo.jpg,,,,,\n"
    )
    specs, _ = build_plan([], ["shipwreck"], defaults(seed=7), manifest=str(csv))
    first, second = (s.settings for s in specs)
    assert first.content == str(tmp_path / "photo.jpg")  # relative to the manifest's folder
    assert first.styles == ("starry_night", "the_scream") and first.size == 64 and first.style_weight == 12.5
    assert first.style_layers == ("relu1_1", "relu3_1") and first.preserve_colors == "luminance"
    assert first.seed == 7  # command-line options are every row's defaults
    assert second.styles == ("shipwreck",) and second.size == 48
    json_manifest = tmp_path / "jobs.json"
    json_manifest.write_text(json.dumps([{"content": "photo.jpg", "styles": ["the_scream"], "size": 56}]))
    (spec,), _ = build_plan([], [], defaults(), manifest=str(json_manifest))
    assert spec.settings.size == 56 and spec.name == "photo__the_scream.png"


@pytest.mark.parametrize(
    "name, text, message",
    [
        (
            "jobs.csv",
            "content,styles,size\n{c},starry_night,48\n{c},starry_night,big\n",
            "line 3: size must be an integer",
        ),
        (
            "jobs.csv",
            "content,styles,pooling\n{c},starry_night,max\n{c},starry_night,min\n",
            "line 3: pooling must be one of",
        ),
        ("jobs.csv", "content,styles,colour\n{c},starry_night,red\n", "line 2: unknown column(s) colour"),
        (
            "jobs.json",
            '[\n {"content": "{c}", "styles": ["starry_night"]},\n {"content": "{c}", "size": "48"}\n]',
            "line 3: setting size must be of type int",
        ),
    ],
)
def test_bad_manifest_row_is_one_line_with_its_line_number(images, tmp_path, name, text, message):
    manifest = tmp_path / name
    manifest.write_text(text.replace("{c}", str(images / "tubingen.jpg")))
    out = painterly(
        "batch", "--manifest", manifest, "--style", "starry_night", "-o", tmp_path / "out", *TINY_ARGS
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("painterly: error: ")
    assert message in out.stderr
    assert not (tmp_path / "out").exists()  # nothing ran


def test_manifest_columns_come_from_settings():
    out = painterly("batch", "--manifest-columns")
    assert out.returncode == 0
    from dataclasses import fields

    listed = [line.split()[0] for line in out.stdout.splitlines()]
    assert listed == [f.name for f in fields(Settings)]
    assert "one of max|avg" in out.stdout


# --- running, failing, resuming -----------------------------------------------------------------


def test_corrupt_input_fails_only_its_job_and_resume_retries_it(photos, tmp_path):
    (photos / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    outdir = tmp_path / "out"
    out = painterly("batch", photos, "--style", "starry_night", "-o", outdir, *TINY_ARGS)
    assert out.returncode == 1, out.stderr
    jobs = results(outdir)
    assert jobs["broken__starry_night"]["status"] == "failed"
    assert "not a readable image" in jobs["broken__starry_night"]["error"]
    assert jobs["broken__starry_night"]["output"] is None
    for name in ("golden_gate__starry_night", "tubingen__starry_night"):
        job = jobs[name]
        assert job["status"] == "done" and job["error"] is None and job["attempts"] == 1
        assert job["seconds"] > 0 and set(job["losses"]) >= {"content", "style", "total"}
        assert read_record(job["output"]).settings["content"] == str(photos / f"{name.split('__')[0]}.jpg")
    assert read_metadata(outdir / "overview.png")["batch"] == [
        "golden_gate__starry_night",
        "tubingen__starry_night",
    ]
    assert "retry the failed jobs" in out.stderr
    done_mtime = (outdir / "tubingen__starry_night.png").stat().st_mtime_ns

    Image.new("RGB", (40, 30), "orange").save(photos / "broken.jpg")  # the user fixes the file
    out = painterly("batch", photos, "--style", "starry_night", "-o", outdir, *TINY_ARGS)
    assert out.returncode == 0, out.stderr
    jobs = results(outdir)
    assert {job["status"] for job in jobs.values()} == {"done"}
    assert jobs["broken__starry_night"]["attempts"] == 2 and jobs["tubingen__starry_night"]["attempts"] == 1
    assert (outdir / "tubingen__starry_night.png").stat().st_mtime_ns == done_mtime  # skipped, not redone


def test_changed_settings_or_missing_output_are_redone(images, tmp_path):
    outdir = tmp_path / "out"
    specs, _ = build_plan([str(images / "tubingen.jpg")], ["starry_night", "the_scream"], defaults())
    assert run_batch(specs, str(outdir), quiet=True) == 0
    (outdir / "tubingen__the_scream.png").unlink()
    kept = (outdir / "tubingen__starry_night.png").stat().st_mtime_ns
    assert run_batch(specs, str(outdir), quiet=True) == 0
    assert (outdir / "tubingen__the_scream.png").is_file()
    assert (outdir / "tubingen__starry_night.png").stat().st_mtime_ns == kept
    changed, _ = build_plan([str(images / "tubingen.jpg")], ["starry_night"], defaults(style_weight=9.0))
    assert run_batch(changed, str(outdir), quiet=True) == 0
    assert (outdir / "tubingen__starry_night.png").stat().st_mtime_ns != kept
    assert read_record(outdir / "tubingen__starry_night.png").settings["style_weight"] == 9.0


def test_style_targets_are_computed_once_per_style(images, tmp_path):
    from painterly.batch.local import InlineExecutor
    from painterly.batch.runner import Batch, Interrupts, drive

    specs, _ = build_plan(
        [str(images / "tubingen.jpg"), str(images / "golden_gate.jpg")], ["starry_night"], defaults()
    )
    batch = Batch(specs, tmp_path, "")
    executor = InlineExecutor()
    drive(batch, executor, Interrupts(executor.abort, print), _Silent())
    # the style's targets are made by the first job and reused by the second
    assert executor.targets.misses > 0 and executor.targets.hits > 0
    assert all(e.status == "done" for e in batch.entries)


@pytest.mark.parametrize("kind", ["junk", "jpeg", "disk full"])
def test_bad_returned_bytes_or_a_full_disk_fail_only_that_job(images, tmp_path, monkeypatch, kind):
    """What a remote worker sends back is written here: a failure is that job's one-line error."""
    import errno
    import io

    from painterly.batch.runner import Batch, Outcome

    specs, _ = build_plan([str(images / "tubingen.jpg")], ["starry_night"], defaults())
    batch = Batch(specs, tmp_path, "")
    (entry,) = batch.entries
    data = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(data, "JPEG" if kind == "jpeg" else "PNG")
    if kind == "disk full":

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(Image.Image, "save", full)
    batch.start(entry)
    batch.finish(entry, Outcome(record={}, png=b"not a png" if kind == "junk" else data.getvalue()), 1.0)
    assert entry.status == "failed" and "\n" not in entry.error
    assert ("No space left" if kind == "disk full" else "no readable PNG") in entry.error
    assert results(tmp_path)[entry.spec.label]["status"] == "failed"
    assert not entry.output.exists()


class _Silent:
    def started(self, entry):
        pass

    def finished(self, entry):
        pass


def test_ctrl_c_twice_stops_the_running_job_and_says_how_to_resume(images, tmp_path):
    outdir = tmp_path / "out"
    args = ["batch", images / "tubingen.jpg", images / "golden_gate.jpg", "--style", "starry_night"]
    slow = ["--size", "64", "--scales", "1", "--iterations", "2000", "--quiet"]
    process = subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", *map(str, args), "-o", str(outdir), *slow],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if "running" in json.loads((outdir / "results.json").read_text())["counts"] and any(
                j["status"] == "running" for j in results(outdir).values()
            ):
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    time.sleep(1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "run the same command again to resume" in stderr
    statuses = sorted(job["status"] for job in results(outdir).values())
    assert statuses == ["interrupted", "queued"]
    assert (outdir / "tubingen__starry_night.png.ckpt").is_file()  # the next run goes on from it


def test_a_killed_batch_goes_on_inside_its_job_and_keeps_another_runs_checkpoint(images, tmp_path):
    """SIGKILL inside the first job: the same command again continues that job from its checkpoint
    (not from zero) and then runs the other, with an uninterrupted batch's pixels. A run whose settings
    no longer match the checkpoint fails that job with the reason and leaves the checkpoint alone."""
    args = ["batch", images / "tubingen.jpg", "--style", "starry_night", "--style", "the_scream"]
    args += ["--size", "96", "--scales", "1", "--iterations", "40", "--checkpoint-every", "0.3", "--quiet"]
    reference, outdir = tmp_path / "reference", tmp_path / "out"
    assert painterly(*args, "-o", reference).returncode == 0
    first = outdir / "tubingen__starry_night.png"
    checkpoint = outdir / "tubingen__starry_night.png.ckpt"
    killed_at_checkpoint(*args, "-o", outdir, checkpoint=checkpoint, cwd=tmp_path)
    assert not first.exists() and results(outdir)["tubingen__starry_night"]["status"] == "running"
    saved = checkpoint.read_bytes()

    other = painterly(*args, "-o", outdir, "--style-weight", "9")
    assert other.returncode == 1, other.stderr
    error = results(outdir)["tubingen__starry_night"]["error"]
    assert "belongs to another run (other style_weight)" in error and "\n" not in error
    assert checkpoint.read_bytes() == saved and not first.exists()

    again = painterly(*args, "-o", outdir)
    assert again.returncode == 0, again.stderr
    resumed = re.search(r"tubingen__starry_night: resuming at \d+% \((\d+) of 40 iterations\)", again.stderr)
    assert resumed and 0 < int(resumed[1]) < 40, again.stderr
    assert "the_scream: resuming" not in again.stderr
    for name in ("tubingen__starry_night.png", "tubingen__the_scream.png"):
        assert np.abs(pixels(outdir / name) - pixels(reference / name)).max() == 0, name
    assert not checkpoint.exists() and {j["status"] for j in results(outdir).values()} == {"done"}


# --- Ray ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False)
    yield ray
    ray.shutdown()


def crashing_painter(label, marker=None):
    """An actor class whose process exits while running ``label``: once (until ``marker`` exists) or,
    without a marker, on every try. Made in a function so Ray ships the class by value to its workers."""
    from painterly.batch.ray_cluster import Painter

    class Crashing(Painter):
        def paint(self, job, *args):
            if job == label and not (marker and os.path.exists(marker)):
                if marker:
                    open(marker, "w").close()
                os._exit(1)
            return super().paint(job, *args)

    return Crashing


def drive_ray(specs, outdir, cpus_per_job, painter):
    from painterly.batch.ray_cluster import RayExecutor
    from painterly.batch.runner import Batch, Interrupts, drive

    batch = Batch(specs, outdir, "")
    executor = RayExecutor(cpus_per_job, len(specs), painter)
    try:
        drive(batch, executor, Interrupts(executor.abort, print), _Silent())
    finally:
        executor.close()
    return batch


@pytest.fixture(scope="module")
def local_reference(images, tmp_path_factory):
    """Four tiny jobs through the local runner: the pixels Ray must reproduce."""
    specs, _ = build_plan(
        [str(images / "tubingen.jpg"), str(images / "golden_gate.jpg")],
        ["starry_night", "the_scream"],
        defaults(),
    )
    outdir = tmp_path_factory.mktemp("local")
    assert run_batch(specs, str(outdir), quiet=True) == 0
    return specs, outdir


def test_damaged_results_and_a_deleted_output_are_survived(local_reference, tmp_path):
    from painterly.batch.runner import Batch

    specs, local = local_reference
    for spec in specs:
        shutil.copy(local / spec.name, tmp_path / spec.name)
    (tmp_path / "results.json").write_text(
        json.dumps(
            {
                "jobs": [
                    {"name": specs[0].label, "attempts": "many"},
                    {"name": specs[1].label, "attempts": [1]},
                ]
            }
        )
    )
    batch = Batch(specs, tmp_path, "")
    assert [e.attempts for e in batch.entries] == [0] * len(specs)
    assert all(e.status == "done" for e in batch.entries)
    (tmp_path / specs[0].name).unlink()  # gone between the run and the overview
    overview = batch.write_overview(0)
    assert read_metadata(overview)["batch"] == [s.label for s in specs[1:]]


@pytest.mark.slow
def test_ray_gives_the_local_pixels_and_resumes(local_ray, local_reference, tmp_path):
    specs, local = local_reference
    outdir = tmp_path / "ray"
    assert run_batch(specs, str(outdir), ray="local", cpus_per_job=2, quiet=True) == 0
    for spec in specs:
        assert np.array_equal(pixels(outdir / spec.name), pixels(local / spec.name)), spec.name
        record = read_record(outdir / spec.name)  # the driver's paths, not the worker's temporary ones
        assert record.output == str(outdir / spec.name) and record.settings == spec.settings_dict()
    assert (outdir / "overview.png").is_file()
    mtimes = {spec.name: (outdir / spec.name).stat().st_mtime_ns for spec in specs}
    assert run_batch(specs, str(outdir), ray="local", quiet=True) == 0
    assert mtimes == {spec.name: (outdir / spec.name).stat().st_mtime_ns for spec in specs}


@pytest.mark.slow
def test_ray_retries_a_killed_worker_without_losing_or_duplicating(local_ray, local_reference, tmp_path):
    specs, local = local_reference
    marker = tmp_path / "crashed"
    outdir = tmp_path / "ray"
    outdir.mkdir()
    drive_ray(specs, outdir, 1, crashing_painter("tubingen__the_scream", marker))
    assert marker.exists()  # the crash happened
    jobs = results(outdir)
    assert sorted(jobs) == sorted(s.label for s in specs)
    assert all(job["status"] == "done" and job["attempts"] == 1 for job in jobs.values())
    assert sorted(p.name for p in outdir.glob("*.png")) == sorted(s.name for s in specs)
    assert not list(outdir.glob(".*.tmp"))


@pytest.mark.slow
def test_an_actor_dead_for_good_is_replaced(local_ray, local_reference, tmp_path):
    """A job that kills its actor on every try fails once Ray's restarts are spent; the next job on
    that slot runs on a fresh actor instead of failing at once."""
    specs, local = local_reference
    batch = drive_ray(specs[:2], tmp_path, 2, crashing_painter(specs[0].label))  # one slot
    doomed, next_one = batch.entries
    assert doomed.status == "failed" and doomed.error.startswith("Ray: ") and "\n" not in doomed.error
    assert next_one.status == "done"
    assert np.array_equal(pixels(tmp_path / specs[1].name), pixels(local / specs[1].name))


@pytest.mark.slow
def test_ray_ships_a_custom_weights_file(local_ray, images, tmp_path):
    """A --weights .pth travels to the workers: here the driver's copy is gone before the job runs."""
    import hashlib
    import tempfile

    import torch

    from painterly.batch.ray_cluster import RayExecutor
    from painterly.batch.runner import Batch
    from painterly.layers import LAYERS
    from painterly.network import load_weights

    index = {name: i for i, name in enumerate(LAYERS)}
    state = {}
    for key, value in load_weights().tensors.items():
        layer, part = key.split(".")
        state[f"features.{index[layer]}.{part}"] = value
    pth = tmp_path / "vgg19.pth"
    torch.save(state, pth)
    shipped = (
        Path(tempfile.gettempdir())
        / "painterly-weights"
        / f"{hashlib.sha256(pth.read_bytes()).hexdigest()}.pth"
    )
    specs, _ = build_plan([str(images / "tubingen.jpg")], ["starry_night"], defaults(weights=str(pth)))
    assert run_batch(specs, str(tmp_path / "local"), quiet=True) == 0
    (tmp_path / "ray").mkdir()
    batch = Batch(specs, tmp_path / "ray", "")
    (entry,) = batch.entries
    executor = RayExecutor(2, 1)
    try:
        batch.start(entry)
        handle = executor.submit(entry)
        pth.unlink()
        deadline = time.monotonic() + 240
        while not executor.wait([handle], 1.0):
            assert time.monotonic() < deadline
        batch.finish(entry, executor.result(handle), 1.0)
    finally:
        executor.close()
        shipped.unlink(missing_ok=True)
    assert entry.status == "done", entry.error
    ray_record, local_record = read_record(entry.output), read_record(tmp_path / "local" / entry.spec.name)
    assert ray_record.weights_sha256 == local_record.weights_sha256
    assert np.array_equal(pixels(entry.output), pixels(tmp_path / "local" / entry.spec.name))


def test_process_executor_runs_jobs_in_worker_processes(local_reference, tmp_path):
    """The --workers path (one process per GPU), here with one CPU slot: same outputs as in-process."""
    from painterly.batch.local import ProcessExecutor
    from painterly.batch.runner import Batch, Interrupts, drive

    specs, local = local_reference
    batch = Batch(specs[:2], tmp_path, "")
    executor = ProcessExecutor([{}])
    try:
        drive(batch, executor, Interrupts(executor.abort, print), _Silent())
    finally:
        executor.close()
    for spec in specs[:2]:
        assert np.array_equal(pixels(tmp_path / spec.name), pixels(local / spec.name)), spec.name


def test_a_killed_worker_process_fails_only_its_job(images, tmp_path):
    """A --workers process that dies mid-job fails that job; a fresh process runs the rest (no hang)."""
    import threading

    from painterly.batch.local import ProcessExecutor
    from painterly.batch.runner import Batch, Interrupts, drive

    content = str(images / "tubingen.jpg")
    specs, _ = build_plan([content], ["starry_night", "the_scream"], defaults(iterations=2000))
    quick, _ = build_plan([content], ["shipwreck"], defaults())
    batch = Batch(specs[:1] + quick, tmp_path, "")
    executor = ProcessExecutor([{}])

    class KillFirst(_Silent):
        def started(self, entry):
            if entry is batch.entries[0]:
                worker = executor._workers[0].process
                threading.Timer(1.0, os.kill, (worker.pid, signal.SIGKILL)).start()

    driving = threading.Thread(
        target=drive, args=(batch, executor, Interrupts(executor.abort, print), KillFirst()), daemon=True
    )
    try:
        driving.start()
        driving.join(timeout=240)
        assert not driving.is_alive(), "the batch hung after a worker died"
    finally:
        executor.abort()
        executor.close()
    killed, rest = batch.entries
    assert killed.status == "failed" and "worker process died" in killed.error and "\n" not in killed.error
    assert rest.status == "done" and (tmp_path / rest.spec.name).is_file()


def test_gpu_slots_number_within_the_visible_devices(monkeypatch):
    import torch

    from painterly.batch.local import gpu_slots

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 3")
    assert gpu_slots(2) == [{"CUDA_VISIBLE_DEVICES": "2"}, {"CUDA_VISIBLE_DEVICES": "3"}]
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert gpu_slots(2) == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]


def test_workers_beyond_the_gpus_and_ray_missing_are_one_line_errors(images, tmp_path):
    out = painterly(
        "batch",
        images / "tubingen.jpg",
        "--style",
        "starry_night",
        "-o",
        tmp_path,
        "--workers",
        "3",
        "--device",
        "cpu",
        *TINY_ARGS,
    )
    assert out.returncode == 2 and "CUDA device(s) are visible" in out.stderr and out.stderr.count("\n") == 1
    code = "import sys; sys.modules['ray'] = None; sys.argv = ['painterly'] + sys.argv[1:]; from painterly.cli import main; main()"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "batch",
            str(images / "tubingen.jpg"),
            "--style",
            "starry_night",
            "-o",
            str(tmp_path),
            "--ray",
            "local",
            *TINY_ARGS,
        ],
        capture_output=True,
        text=True,
    )
    assert (
        out.returncode == 2
        and out.stderr == "painterly: error: --ray needs Ray: pip install painterly[cluster]\n"
    )
