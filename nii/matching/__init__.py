"""Declarations vs detections: parsing, taxonomy, description -> category, comparison.

`declaration`: the CN22/CN23 schema, JSON and CSV readers; `taxonomy`: the editable categories file;
`describe`: a declared line -> categories and flags; `compare`: declared vs detected -> findings.
Never imports torch, fastapi or the store.
"""

from nii.matching.compare import CompareSettings, Comparison, Finding, MaterialProfile, Seen, compare
from nii.matching.declaration import (
    Declaration,
    DeclaredLine,
    declaration_from_json,
    parse_declaration,
    read_declaration,
    read_manifest_csv,
)
from nii.matching.describe import Flag, LineClass, classify_line
from nii.matching.taxonomy import Taxonomy, load_taxonomy

__all__ = [
    "CompareSettings",
    "Comparison",
    "Declaration",
    "DeclaredLine",
    "Finding",
    "Flag",
    "LineClass",
    "MaterialProfile",
    "Seen",
    "Taxonomy",
    "classify_line",
    "compare",
    "declaration_from_json",
    "load_taxonomy",
    "parse_declaration",
    "read_declaration",
    "read_manifest_csv",
]
