"""Each option is declared once: a path-valued field is one edit to ``Settings`` and then every face
(jobs, manifests, Ray, rerun, the web) treats it as a path; every face runs through one job setup."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from painterly.declared import Paths, described
from painterly.settings import Settings, path_fields


@dataclass(frozen=True)
class Sketched(Settings):
    """Settings with one more path-valued field, declared as any other would be."""

    sketch: str = described(
        "a sketch image path", default="", path=Paths(label="sketch image"), form="advanced"
    )


@pytest.fixture
def sketch(tmp_path) -> Path:
    path = tmp_path / "sketch.png"
    path.write_bytes(b"not really a png")
    return path


def sketched(images, **kw) -> Sketched:
    return Sketched(content=str(images / "tubingen.jpg"), styles=("starry_night",), **kw)


def test_the_metadata_names_every_path_field():
    assert set(path_fields()) == {"content", "styles", "init", "mask", "weights"}
    assert "sketch" in path_fields(Sketched)


def test_jobs_resolve_a_new_path_field_and_never_overwrite_it(images, sketch, monkeypatch):
    from painterly.errors import PainterlyError
    from painterly.jobs import Job, absolute

    monkeypatch.chdir(sketch.parent)
    assert absolute(sketched(images, sketch="sketch.png")).sketch == str(sketch)
    with pytest.raises(PainterlyError, match="overwrite the input"):
        Job(sketched(images, sketch=str(sketch)), sketch)


def test_a_manifest_takes_a_new_path_field_relative_to_its_folder(images, sketch, tmp_path):
    from painterly.batch.manifest import read_manifest
    from painterly.errors import PainterlyError

    manifest = tmp_path / "jobs.csv"
    with manifest.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["content", "styles", "sketch"])
        writer.writerow([images / "tubingen.jpg", "starry_night", "sketch.png"])
    ((_, settings),) = read_manifest(manifest, {}, Sketched)
    assert settings.sketch == str(sketch)
    sketch.unlink()
    with pytest.raises(PainterlyError, match="sketch image not found"):
        read_manifest(manifest, {}, Sketched)


def test_ray_ships_and_localizes_a_new_path_field(images, sketch, tmp_path):
    from painterly.batch.ray_cluster import _localized, pack

    settings = sketched(images, sketch=str(sketch))
    files = pack(settings)
    assert files[str(sketch)] == sketch.read_bytes()
    worker = tmp_path / "worker"
    worker.mkdir()
    local = _localized(settings, files, worker)
    assert Path(local.sketch).parent == worker and Path(local.sketch).read_bytes() == sketch.read_bytes()


def test_rerun_refuses_to_follow_a_new_path_field(images, sketch):
    from painterly.cli.run import _record_paths, unfollowed

    settings = sketched(images, sketch=str(sketch))
    given = {"content": settings.content}
    assert unfollowed(settings, given) == ("sketch", str(sketch))
    assert unfollowed(settings, given | {"sketch": "mine.png"}) is None
    command = _record_paths(Sketched)(click.command()(lambda **kw: None))
    assert {"--sketch", "--style", "--mask", "--init", "--weights"} <= {
        flag for param in command.params for flag in param.opts
    }


def test_a_web_visitor_sees_only_the_file_name_of_a_new_path_field(monkeypatch):
    import painterly.settings
    from painterly.web.results import public_settings

    monkeypatch.setattr(painterly.settings, "Settings", Sketched)
    shown = public_settings(
        {"content": "/srv/c.png", "styles": ["/srv/s.png"], "sketch": "/home/u/x.png"}, "j"
    )
    assert shown["sketch"] == "x.png" and shown["content"] == "job:j:content"


def test_the_web_form_takes_only_the_names_a_new_path_field_allows(monkeypatch):
    """A path field on the web form accepts only its ``Paths``' names (values that name no file) and is
    left off when it has none: the server reads no path a client names."""
    import painterly.settings
    from painterly.errors import PainterlyError
    from painterly.web.forms import coerce_form, settings_schema

    @dataclass(frozen=True)
    class Stencilled(Sketched):
        stencil: str = described(
            "stencil: {choices} or an image path",
            default="none",
            path=Paths(names=("none", "circle")),
            form="main",
        )

    monkeypatch.setattr(painterly.settings, "Settings", Stencilled)
    shown = {field["name"]: field for field in settings_schema()}
    assert shown["stencil"]["choices"] == ["none", "circle"] and "sketch" not in shown
    assert shown["init"]["choices"] == ["content", "noise", "style-colors"]
    assert coerce_form({"stencil": "circle", "init": "noise"}) == {"stencil": "circle", "init": "noise"}
    for form, message in (
        ({"stencil": "/etc/passwd"}, "stencil must be one of none, circle"),
        ({"sketch": "/etc/passwd"}, "cannot be set from the web page"),
        ({"init": "/etc/passwd"}, "init must be one of"),
    ):
        with pytest.raises(PainterlyError, match=message):
            coerce_form(form)


def test_every_path_field_is_hidden_and_every_other_field_public():
    from dataclasses import fields

    hidden = {f.name for f in fields(Settings) if not f.metadata["public"]}
    assert hidden == set(path_fields())


def test_version_is_the_installed_packages():
    from importlib.metadata import version

    import painterly

    assert painterly.__version__ == version("painterly")


def test_one_message_per_failure_wherever_it_happens():
    import errno

    from painterly.errors import PainterlyError, user_message

    assert user_message(PainterlyError("bad input")) == "bad input"
    assert user_message(MemoryError(), size="--size") == "out of memory: try a smaller --size"
    device = RuntimeError("CUDA out of memory. Tried to allocate 2 GiB")
    assert user_message(device, size="--size", device="--device") == (
        "out of memory on the device: try a smaller --size or --device cpu"
    )
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert user_message(full, disk="full") == "full"
    try:  # a write failure told as one line (``images.save_image``), e.g. the web server's result.png
        raise PainterlyError("cannot write /srv/data/runs/x/result.png: No space left on device") from full
    except PainterlyError as told:
        assert user_message(told, disk="full") == "full"
    assert user_message(RuntimeError("a bug")) is None


def test_grid_protects_the_astronauts_face():
    """``painterly grid``'s sweep runs each variant through ``Job``, so face protection applies."""
    cv2 = pytest.importorskip("cv2")
    if not hasattr(cv2, "CascadeClassifier"):
        pytest.skip("this OpenCV has no Haar cascades")
    from painterly.engine import Iteration
    from painterly.grid import sweep
    from painterly.images import demo_content
    from painterly.jobs import Job

    job = Job(
        Settings(content=str(demo_content()), styles=("starry_night",), size=64, scales=1, iterations=2)
    )
    seen: list[set[str]] = []
    sheet, labels = sweep(
        job, [1.0, 10.0], on_event=lambda e: seen.append(set(e.losses)) if isinstance(e, Iteration) else None
    )
    assert len(labels) == 2 and len(seen) == 4
    assert all("faces" in losses for losses in seen)
