"""`learn-references`: what compliant declarations of each category look like, per declared unit.

Customs price and weight profiles: from lines that were declared truly (parcels found compliant), each
category's low quantile of unit value (USD) and its range of unit net mass, widened by a margin. A
policy carrying them (`comparison.references`) checks a line against its category's profile instead
of the taxonomy's generic figures, which must cover every market and are loose by design: three
shirts declared as one, at the weight of three, then stand out. The profiles are only as good as
the history they come from; learn them from the administration's own cleared declarations.

Sources: a `nii synth` folder (its parcels labelled compliant) or a manifest CSV of cleared parcels
(`nii.matching.declaration.read_manifest_csv`, every parcel taken as compliant).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from nii.errors import DatasetError, UsageError
from nii.matching.compare import Reference
from nii.matching.declaration import Declaration, parse_declaration, read_manifest_csv
from nii.matching.describe import classify_line
from nii.matching.taxonomy import Taxonomy, load_taxonomy
from nii.triage.evaluate import read_records
from nii.types import COMPLIANT

QUANTILE = 0.01  # share of compliant lines left outside the profile at each end (chosen on seed-2 parcels)
MARGIN = 1.1  # the unit-mass range is widened by this factor at each end
MIN_LINES = 30  # fewer compliant lines than this: no profile, the taxonomy's figures stay


def compliant_declarations(source: Path) -> Iterator[Declaration]:
    """Declarations known to be true: the compliant parcels of a `nii synth` folder, or every parcel
    of a manifest CSV (cleared parcels)."""
    if source.is_dir():
        for n, record in enumerate(read_records(source), start=1):
            where = f"{source}/declarations.jsonl line {n}"
            if not isinstance(record, dict) or "declaration" not in record:
                raise DatasetError(f"{where}: no `declaration`; is {source} a `nii synth` folder?")
            if record.get("ground_truth", {}).get("labels") == [COMPLIANT]:
                yield parse_declaration(record["declaration"], source=where)
    elif source.suffix.lower() == ".csv":
        yield from read_manifest_csv(source).values()
    else:
        what = "is neither" if source.exists() else "does not exist; give"
        raise UsageError(f"{source} {what} a `nii synth` folder or a manifest .csv of cleared parcels")


def learn_references(
    declarations: Iterable[Declaration],
    *,
    taxonomy: Taxonomy | None = None,
    quantile: float = QUANTILE,
    margin: float = MARGIN,
    min_lines: int = MIN_LINES,
) -> dict[str, Reference]:
    """Per category (as the matcher reads each line), the profile of its compliant lines. Only checks
    the taxonomy keeps are learned: no value profile where its min_unit_value_usd is null (documents),
    no mass profile where its unit_mass_kg is."""
    if not 0 <= quantile < 0.5 or margin < 1 or min_lines < 1:
        raise UsageError(f"need 0 <= quantile < 0.5, margin >= 1 and min_lines >= 1; "
                         f"got {quantile}, {margin} and {min_lines}")
    taxonomy = taxonomy or load_taxonomy()
    values: dict[str, list[float]] = defaultdict(list)
    masses: dict[str, list[float]] = defaultdict(list)
    for declaration in declarations:
        for line in declaration.lines:
            category = classify_line(line.description, line.hs_code, taxonomy=taxonomy,
                                     value=line.value).category
            if category is None:
                continue
            masses[category].append(line.net_weight_kg / line.quantity)
            usd = taxonomy.to_usd(line.value, line.currency)
            if usd is not None and usd > 0:
                values[category].append(usd / line.quantity)
    out = {}
    for name in sorted(masses):
        cat = taxonomy.categories[name]
        value = values[name] if cat.min_unit_value_usd is not None else []
        mass = masses[name] if cat.unit_mass_kg is not None else []
        value, mass = (v if len(v) >= min_lines else None for v in (value, mass))
        if value is None and mass is None:
            continue
        out[name] = Reference(
            lines=len(masses[name]),
            min_unit_value_usd=None if value is None else _round(np.quantile(value, quantile), up=False),
            unit_mass_kg=None if mass is None else (
                _round(np.quantile(mass, quantile) / margin, up=False),
                _round(np.quantile(mass, 1 - quantile) * margin, up=True),
            ),
        )
    return out


def _round(x: float | np.floating, *, up: bool) -> float:
    """Three significant digits, rounded outwards (a policy file is read by people; rounding must not
    make a profile narrower than the history)."""
    digits = 2 - math.floor(math.log10(x))
    scaled = x * 10.0**digits
    return round((math.ceil(scaled - 1e-9) if up else math.floor(scaled + 1e-9)) / 10.0**digits, digits)


def references_yaml(references: dict[str, Reference]) -> dict[str, dict]:
    """The `comparison.references` section of a policy file."""
    return {
        name: {
            "lines": r.lines,
            "min_unit_value_usd": r.min_unit_value_usd,
            "unit_mass_kg": None if r.unit_mass_kg is None else list(r.unit_mass_kg),
        }
        for name, r in references.items()
    }
