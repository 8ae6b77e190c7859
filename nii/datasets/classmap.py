"""Mapping of source dataset class names to the nii taxonomy.

A source name resolves, in this order: the user's class map (`--class-map FILE`, yaml or json,
source name -> taxonomy name or null), a taxonomy name equal to it, the built-in aliases in
`aliases.yaml`. Matching is case-insensitive and reads "_" as a space. A name that resolves to
nothing, or to null, is unmapped: its boxes are ignored and counted in the import report.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from nii.errors import DatasetError

log = logging.getLogger(__name__)


def normalise_name(name: str) -> str:
    """Key used for matching: case-folded, "_" as space, runs of whitespace collapsed."""
    return " ".join(str(name).replace("_", " ").casefold().split())


@cache
def builtin_aliases() -> dict[str, str | None]:
    """The packaged alias table (normalised source name -> taxonomy name or None)."""
    text = resources.files("nii.datasets").joinpath("aliases.yaml").read_text(encoding="utf-8")
    raw = yaml.safe_load(text) or {}
    return {normalise_name(k): v for k, v in raw.items()}


def read_class_map(path: Path, class_names: Sequence[str]) -> dict[str, str | None]:
    """Read a user class map file (yaml or json object: source name -> taxonomy name or null)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot read class map {path}: {exc.strerror or exc}") from exc
    try:
        raw = json.loads(text) if Path(path).suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"class map {path} is not valid {Path(path).suffix or 'yaml'}: {exc}") from exc
    if not isinstance(raw, dict):
        raise DatasetError(
            f"class map {path} must be a mapping of source class name -> taxonomy class name (or null), "
            f"got {type(raw).__name__}"
        )
    known = {normalise_name(n): n for n in class_names}
    mapping: dict[str, str | None] = {}
    for source, target in raw.items():
        if target is None:
            mapping[normalise_name(source)] = None
            continue
        if not isinstance(target, str) or normalise_name(target) not in known:
            raise DatasetError(
                f"class map {path}: {source!r} maps to {target!r}, which is not a taxonomy class; "
                f"use one of {', '.join(class_names)} or null to ignore it"
            )
        mapping[normalise_name(source)] = known[normalise_name(target)]
    return mapping


@dataclass(frozen=True, slots=True)
class ClassMapper:
    """Resolves source class names to indices into `class_names` (None = unmapped)."""

    class_names: tuple[str, ...]
    user_map: Mapping[str, str | None] = field(default_factory=dict)

    @classmethod
    def build(cls, class_names: Sequence[str], class_map: Path | None = None) -> ClassMapper:
        names = tuple(class_names)
        user = read_class_map(class_map, names) if class_map is not None else {}
        return cls(class_names=names, user_map=user)

    def resolve(self, source_name: str) -> int | None:
        key = normalise_name(source_name)
        index = {normalise_name(n): i for i, n in enumerate(self.class_names)}
        if key in self.user_map:
            target = self.user_map[key]
            return None if target is None else index[normalise_name(target)]
        if key in index:
            return index[key]
        target = builtin_aliases().get(key)
        if target is None:
            return None
        return index.get(normalise_name(target))

    def resolve_all(self, source_names: Sequence[str]) -> list[int | None]:
        return [self.resolve(n) for n in source_names]
