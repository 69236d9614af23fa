"""Per-job settings from a CSV or JSON manifest: any ``Settings`` field is a column (or key).

The columns are generated from the options' declarations (``painterly.options``, read off ``Settings``),
so a new option is a manifest column without a change here. Values are typed from the field's type and
validated by ``Settings``; the first bad row stops the batch before any work with its line number.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from ..errors import PainterlyError
from ..images import resolve
from ..options import INPUTS, option, options
from ..settings import Settings, fields_of, named_files, path_fields, repathed
from .plan import resolve_relative


def columns(declared: type[Settings] = Settings) -> list[str]:
    """Every column name: the run's inputs, then each option, in Settings' order."""
    return [*INPUTS, *(opt.name for opt in options(declared))]


def describe_columns() -> str:
    """One line per column: name, type, default, allowed values and help (for ``--manifest-columns``)."""
    lines = [
        f"{'content':20} text: content image path (relative paths: from the manifest's folder)",
        f"{'styles':20} list of text: style image paths or built-in style names, comma-separated",
    ]
    for opt in options():
        typename = f"list of {opt.kind.__name__}" if opt.many else opt.kind.__name__
        choices = f"; one of {'|'.join(opt.choices)}" if opt.choices else ""
        default = opt.format(opt.default)
        lines.append(f"{opt.name:20} {typename} (default {default:.30}{choices}): {opt.help}")
    return "\n".join(lines)


def read_manifest(
    path: str | os.PathLike, defaults: dict[str, Any], declared: type[Settings] = Settings
) -> list[tuple[int, Settings]]:
    """(line number, validated ``declared`` settings) per row; ``defaults`` (the command-line options)
    fill gaps.

    Relative paths (in every path-valued field) are taken relative to the manifest's folder.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PainterlyError(
            f"cannot read the manifest {path}: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    rows = _json_rows(path, text) if path.suffix.lower() == ".json" else _csv_rows(path, text)
    jobs = []
    for line, row in rows:
        try:
            jobs.append((line, _settings(row, defaults, path.parent, declared)))
        except PainterlyError as exc:
            raise PainterlyError(f"{path} line {line}: {exc}") from None
    if not jobs:
        raise PainterlyError(f"{path} lists no jobs")
    return jobs


def _settings(
    row: dict[str, Any], defaults: dict[str, Any], folder: Path, declared: type[Settings]
) -> Settings:
    unknown = sorted(set(row) - set(columns(declared)))
    if unknown:
        raise PainterlyError(
            f"unknown column(s) {', '.join(map(str, unknown))} (columns are Settings fields; "
            "see painterly batch --manifest-columns)"
        )
    values = {**defaults, **row}
    values.update(repathed(values, lambda value: resolve_relative(value, folder), declared))
    settings = declared.from_dict(values).validated()
    if not settings.content:
        raise PainterlyError("no content image (give a content column)")
    values = fields_of(settings)
    for name, paths in path_fields(declared).items():
        for source in named_files(values, name, declared):
            if not os.path.exists(resolve(source)):
                raise PainterlyError(f"{paths.label} not found: {source}")
    return settings


def _csv_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines(keepends=True))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    rows = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise PainterlyError(f"{path} line {line}: more cells than columns")
        try:
            rows.append((line, {k: _typed(k, v.strip()) for k, v in row.items() if v and v.strip()}))
        except PainterlyError as exc:
            raise PainterlyError(f"{path} line {line}: {exc}") from None
    return rows


def _typed(name: str, text: str) -> Any:
    """A CSV cell as the field's type, parsed by the option's own declaration; unknown names pass
    through (reported with the row)."""
    if name == "styles":
        return [part.strip() for part in text.split(",") if part.strip()]
    if name not in columns() or name in INPUTS:
        return text
    opt = option(name)
    value = opt.parse(text)
    return list(value) if opt.many else value


def _json_rows(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects of a JSON array, each with the line it starts on."""
    decoder = json.JSONDecoder()
    position = _skip(text, 0)
    if text[position : position + 1] != "[":
        raise PainterlyError(f"{path} line 1: a JSON manifest is a list of objects, one per job")
    rows = []
    position = _skip(text, position + 1)
    while text[position : position + 1] != "]":
        line = text.count("\n", 0, position) + 1
        try:
            row, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise PainterlyError(f"{path} line {exc.lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(row, dict):
            raise PainterlyError(f"{path} line {line}: each job must be a JSON object")
        rows.append((line, row))
        position = _skip(text, position)
        if text[position : position + 1] == ",":
            position = _skip(text, position + 1)
        elif text[position : position + 1] != "]":
            raise PainterlyError(f"{path} line {text.count(chr(10), 0, position) + 1}: expected , or ]")
    return rows


def _skip(text: str, position: int) -> int:
    while position < len(text) and text[position].isspace():
        position += 1
    return position
