"""The command line through its real entry point, in subprocesses."""

import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

TINY = ["--size", "48", "--scales", "1", "--iterations", "3", "--quiet"]


def painterly(*args, cwd, timeout=600, env=None):
    """Run the CLI in ``cwd`` (always a test's temporary folder: a default output lands there)."""
    return subprocess.run(
        [sys.executable, "-m", "painterly.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=env,
    )


def killed_at_checkpoint(*args, checkpoint, cwd, timeout=120) -> None:
    """Run the CLI in ``cwd`` and SIGKILL it as soon as ``checkpoint`` exists (written atomically, so
    whole): what a crash, the OOM killer or a reboot does to a long run. Fails if the run ends first."""
    process = subprocess.Popen(
        [sys.executable, "-m", "painterly.cli", *map(str, args)],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + timeout
    try:
        while not checkpoint.exists():
            assert process.poll() is None, f"the run ended (exit {process.returncode}) before {checkpoint}"
            assert time.monotonic() < deadline, f"no {checkpoint} after {timeout} s"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()


def test_help_lists_options_with_defaults(tmp_path):
    out = painterly("run", "--help", cwd=tmp_path)
    assert out.returncode == 0
    for option in (
        "--size",
        "--style-weight",
        "--content-layers",
        "--pooling",
        "--init",
        "--optimizer",
        "--seed",
    ):
        assert option in out.stdout
    assert "default: 512" in out.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["{d}/missing.jpg", "{i}/starry_night.jpg"], "content image not found"),
        (["{i}/tubingen.jpg", "{d}/missing.jpg"], "style image not found"),
        (["{i}/tubingen.jpg", "{i}/SOURCES.md"], "not a readable image"),
        (["{i}/tubingen.jpg", "starry_night", "--size", "-3"], "size must be"),
        (["{i}/tubingen.jpg", "starry_night", "--size", "999999"], "size must be"),
        (
            ["{i}/tubingen.jpg", "starry_night", "--size", "8000", "--memory-budget", "2"],
            "the largest size that fits is about",
        ),
        (["{i}/tubingen.jpg", "starry_night", "--style-layers", "relu7_1"], "unknown layer"),
        (["{i}/tubingen.jpg", "starry_night", "--style-weight", "-2"], "style-weight"),
        (["{i}/tubingen.jpg", "starry_night", "-o", "{d}/nofolder/out.png"], "output folder does not exist"),
        (["{d}/in.png", "starry_night", "-o", "{d}/in.png"], "overwrite the input"),
        (
            ["{i}/tubingen.jpg", "starry_night", "--init", "{d}/in.png", "-o", "{d}/in.png"],
            "overwrite the input",
        ),
        (["{i}/tubingen.jpg", "starry_night", "--mask-styles", "a,b"], "mask-styles must be an integer"),
        (["{i}/tubingen.jpg", "starry_night", "-o", "{d}/out.gif"], "output must end in"),
        (["{i}/tubingen.jpg", "starry_night", "--weights", "{d}/missing.pth"], "weights file not found"),
        (["{i}/tubingen.jpg", "starry_night", "--weights", "{d}/in.png"], "cannot read weights file"),
    ],
)
def test_errors_are_one_line_and_write_nothing(tmp_path, images, args, message):
    Image.new("RGB", (8, 8)).save(tmp_path / "in.png")
    before = sorted(os.listdir(tmp_path))
    args = [a.format(d=tmp_path, i=images) for a in args]
    if "-o" not in args:
        args += ["-o", str(tmp_path / "out.png")]
    out = painterly(*TINY, *args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr
    assert sorted(os.listdir(tmp_path)) == before


def test_run_info_rerun_round_trip(tmp_path, images):
    out = painterly(
        images / "tubingen.jpg", "starry_night", "-o", tmp_path / "a.png", *TINY, "--seed", "5", cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    first = Image.open(tmp_path / "a.png")
    assert max(first.size) == 48
    info = painterly("info", tmp_path / "a.png", cwd=tmp_path)
    assert '"seed": 5' in info.stdout and "weights_sha256" in info.stdout and '"torch"' in info.stdout
    refused = painterly("rerun", tmp_path / "a.png", "--quiet", cwd=tmp_path)
    assert refused.returncode == 2 and "names the content path" in refused.stderr  # could be anyone's
    again = painterly("rerun", tmp_path / "a.png", "--quiet", "--trust-record", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert Image.open(tmp_path / "a-rerun.png").tobytes() == first.tobytes()


def test_default_output_never_overwrites(tmp_path, images):
    (tmp_path / "tubingen-starry_night.png").write_bytes(b"keep me")
    out = painterly(images / "tubingen.jpg", "starry_night", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "tubingen-starry_night.png").read_bytes() == b"keep me"
    assert Image.open(tmp_path / "tubingen-starry_night-1.png").size == (48, 36)


def test_builtin_styles_listed_and_usable(tmp_path, images):
    listed = painterly("styles", cwd=tmp_path)
    assert listed.returncode == 0 and {"starry_night", "shipwreck", "the_scream"} <= {
        line.split("\t")[0] for line in listed.stdout.splitlines()
    }
    out = painterly(
        images / "tubingen.jpg",
        "the_scream",
        "shipwreck",
        "--style-blend",
        "2,1",
        "-o",
        tmp_path / "b.jpg",
        *TINY,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert Image.open(tmp_path / "b.jpg").format == "JPEG"


def test_save_every_writes_intermediates(tmp_path, images):
    out = painterly(
        images / "tubingen.jpg",
        "starry_night",
        "-o",
        tmp_path / "c.png",
        *TINY,
        "--save-every",
        "1",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "c-00001.png",
        "c-00002.png",
        "c-00003.png",
        "c.png",
    ]


@pytest.mark.parametrize("command", [[], ["grid", "--style-weights", "5"]], ids=["run", "grid"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "existing"])
def test_ctrl_c_saves_best_so_far_never_over_an_earlier_file(tmp_path, images, command, existing):
    if existing:
        (tmp_path / "i.png").write_bytes(b"the user's earlier result")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "painterly.cli",
            *command,
            images / "tubingen.jpg",
            "starry_night",
            "-o",
            tmp_path / "i.png",
            "--size",
            "64",
            "--scales",
            "1",
            "--iterations",
            "5000",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    # wait for the progress bar to show a few iterations
    seen = ""
    deadline = time.time() + 120
    while time.time() < deadline and "5/5000" not in seen:
        seen += proc.stderr.read(1)
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130
    partial = tmp_path / ("i-partial.png" if existing else "i.png")
    assert f"saved to {partial}" in rest, rest
    if existing:
        assert (tmp_path / "i.png").read_bytes() == b"the user's earlier result"
    image = Image.open(partial)
    if command:  # a sheet: the stopped variant plus its label strip
        assert image.width >= 64
    else:
        assert image.size == (64, 48)


def test_help_is_fast(tmp_path):
    start = time.perf_counter()
    out = painterly("--help", cwd=tmp_path)
    assert out.returncode == 0
    # import check rather than timing: --help must not load torch
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, painterly.cli; print('torch' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert probe.stdout.strip() == "False"
    assert time.perf_counter() - start < 30


def test_grid_lays_out_labeled_variants(tmp_path, images):
    out = painterly(
        "grid",
        images / "tubingen.jpg",
        "starry_night",
        "--style-weights",
        "1,10,100",
        "-o",
        tmp_path / "g.png",
        *TINY,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    sheet = Image.open(tmp_path / "g.png")
    assert sheet.width > 3 * 48 and sheet.height > 36  # three tiles side by side plus label strips
    assert "style weight 100" in sheet.text["painterly"]


def test_every_setting_is_a_run_option(tmp_path):
    from painterly.options import options

    out = painterly("run", "--help", cwd=tmp_path).stdout
    missing = [o.flag for o in options() if o.flag not in out]
    assert not missing


def test_info_and_rerun_refuse_hostile_images_in_one_line(tmp_path):
    from test_web_support import bomb_png

    from painterly.images import save_image

    (tmp_path / "bomb.png").write_bytes(bomb_png(30000, 30000))
    record = {
        "settings": {"styles": [1]},
        "output": "",
        "elapsed": 0.0,
        "iterations": 0,
        "interrupted": False,
    }
    record |= {"losses": {}, "weights_sha256": "", "device": "cpu", "precision": "fp32"}
    save_image(Image.new("RGB", (8, 8)), tmp_path / "ints.png", record)
    for args, message in [
        (["info", "bomb.png"], "too large"),
        (["rerun", "bomb.png"], "too large"),
        (["rerun", "ints.png"], "setting styles must be of type str"),
    ]:
        out = painterly(*args, cwd=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and message in out.stderr, out.stderr


def test_rerun_follows_paths_of_someone_elses_image_only_when_told(tmp_path, images):
    from painterly.images import read_metadata, save_image

    out = painterly(images / "tubingen.jpg", "starry_night", "-o", tmp_path / "a.png", *TINY, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    record = read_metadata(tmp_path / "a.png")
    Image.new("RGB", (8, 8), "white").save(tmp_path / "secret.png")
    record["settings"]["init"] = str(tmp_path / "secret.png")
    save_image(Image.open(tmp_path / "a.png"), tmp_path / "b.png", record)
    refused = painterly("rerun", "b.png", "--quiet", cwd=tmp_path)
    assert refused.returncode == 2 and "give it with --content PATH or pass --trust-record" in refused.stderr
    assert not (tmp_path / "b-rerun.png").exists()
    content = ["--content", images / "tubingen.jpg"]
    half = painterly("rerun", "b.png", "--quiet", *content, cwd=tmp_path)
    assert half.returncode == 2 and "give it with --init PATH or pass --trust-record" in half.stderr
    given = painterly("rerun", "b.png", "--quiet", *content, "--init", "content", cwd=tmp_path)
    assert given.returncode == 0, given.stderr
    trusted = painterly("rerun", "b.png", "--quiet", "--trust-record", "-o", "c.png", cwd=tmp_path)
    assert trusted.returncode == 0, trusted.stderr
    assert read_metadata(tmp_path / "c.png")["settings"]["init"] == str(tmp_path / "secret.png")
