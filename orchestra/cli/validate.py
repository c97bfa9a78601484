"""``orchestra validate -f FILE|DIR|-``: decode, default and validate manifests, offline.

Each problem is printed compiler-style, ``FILE:LINE: KIND/NAME: FIELD: MESSAGE``,
so that editors can jump to it; the exit code is 1 when anything is invalid.
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Iterator

import attrs
import click

from orchestra.api.codec import Document, decode, load_documents
from orchestra.api.defaults import apply_defaults
from orchestra.api.errors import DecodeError
from orchestra.api.validation import validate

__all__ = ["validate_command", "ManifestProblem", "validate_source", "manifest_files", "read_manifest"]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


@attrs.frozen
class ManifestProblem:
    """One problem in one manifest: where it is and what is wrong."""

    source: str
    line: int | None
    what: str  # "Deployment/web", or "document 2" when the object is unknown
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.what}: {self.message}" if self.what else f"{where}: {self.message}"


def manifest_files(path: str, recursive: bool) -> list[Path]:
    """The manifest files named by ``path``: the file itself, or the YAML/JSON files of a directory."""
    p = Path(path)
    if p.is_dir():
        pattern = "**/*" if recursive else "*"
        return sorted(f for f in p.glob(pattern) if f.is_file() and f.suffix in MANIFEST_SUFFIXES)
    if p.exists():
        return [p]
    raise click.UsageError(f"the path {path!r} does not exist")


def _describe(doc: Document) -> str:
    kind = doc.data.get("kind") or "object"
    name = (doc.data.get("metadata") or {}).get("name") if isinstance(doc.data.get("metadata"), dict) else None
    return f"{kind}/{name}" if name else f"{kind} (document {doc.index})"


def validate_source(text: str | bytes, source: str) -> tuple[int, list[ManifestProblem]]:
    """Validate every object in one file's text: ``(objects read, problems)``."""
    try:
        documents = load_documents(text, source=source)
    except DecodeError as exc:
        return 0, [ManifestProblem(source, exc.line, f"document {exc.document}" if exc.document is not None else "", _reason(exc))]
    problems: list[ManifestProblem] = []
    for doc in documents:
        problems.extend(_check_document(doc, source))
    return len(documents), problems


def _reason(exc: DecodeError) -> str:
    return f"{exc.path}: {exc.reason}" if exc.path else exc.reason


def _check_document(doc: Document, source: str) -> Iterator[ManifestProblem]:
    what = _describe(doc)
    try:
        obj = decode(copy.deepcopy(doc.data))
    except DecodeError as exc:
        line = (doc.line_of(exc.path) if exc.path else None) or exc.line or doc.line
        yield ManifestProblem(source, line, what, _reason(exc))
        return
    for error in validate(apply_defaults(obj)):
        yield ManifestProblem(source, doc.line_of(error.path) or doc.line, what, str(error))


def read_manifest(path: str) -> tuple[str, bytes]:
    """``(source name, bytes)`` of a manifest file, or of standard input for ``-``."""
    if path == "-":
        return "<stdin>", sys.stdin.buffer.read()
    try:
        return path, Path(path).read_bytes()
    except OSError as exc:
        raise click.FileError(path, hint=exc.strerror) from exc


@click.command("validate")
@click.option("-f", "--filename", "paths", multiple=True, required=True, metavar="FILE|DIR|-",
              help="Manifest file, directory of manifests, or - for standard input (repeatable).")
@click.option("-R", "--recursive", is_flag=True, help="Descend into subdirectories of a DIR.")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems.")
def validate_command(paths: tuple[str, ...], recursive: bool, quiet: bool) -> None:
    """Check manifests against Orchestra's resource model, without a cluster.

    Every object is decoded, defaulted and validated with the rules the API
    server applies. Exit status 1 when any object is invalid.
    """
    files: list[str] = []
    for path in paths:
        files.extend(["-"] if path == "-" else [str(f) for f in manifest_files(path, recursive)])
    total = 0
    invalid_files = 0
    problem_count = 0
    for path in files:
        source, text = read_manifest(path)
        count, problems = validate_source(text, source)
        total += count
        problem_count += len(problems)
        invalid_files += bool(problems)
        for problem in problems:
            click.echo(str(problem), err=True)
        if not problems and not quiet:
            click.echo(f"{source}: {count} object{'s' if count != 1 else ''} valid")
    if problem_count:
        click.echo(f"{problem_count} problem{'s' if problem_count != 1 else ''} in {invalid_files} "
                   f"of {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
        raise click.exceptions.Exit(1)
    if not quiet:
        click.echo(f"all {total} objects in {len(files)} file{'s' if len(files) != 1 else ''} are valid")
