"""learn-references: category profiles from compliant declarations, into a policy that uses them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nii.cli import main
from nii.errors import ConfigError, DatasetError, UsageError
from nii.matching.compare import compare
from nii.matching.declaration import CSV_COLUMNS, parse_declaration
from nii.triage.policy import DEFAULT_POLICY_PATH, load_policy, write_policy
from nii.triage.references import compliant_declarations, learn_references
from nii.triage.tune import write_tuned_policy

# 40 compliant parcels: one to three shirts of 0.2-0.4 kg and 10-20 USD each, and a letter.
_RNG = np.random.default_rng(0)
_SHIRTS = [(int(q), round(float(kg), 3), round(float(usd), 2)) for q, kg, usd in
           zip(_RNG.integers(1, 4, 40), _RNG.uniform(0.2, 0.4, 40), _RNG.uniform(10, 20, 40), strict=True)]


def _declaration(*items: tuple[str, int, float, float]) -> dict:
    lines = [{"description": d, "quantity": q, "net_weight_kg": kg, "value": v} for d, q, kg, v in items]
    return {"sender_country": "CN", "recipient_country": "DE", "currency": "USD", "items": lines}


def _history() -> list[dict]:
    return [_declaration(("t-shirt", q, q * kg, q * usd), ("letter", 1, 0.02, 0.0)) for q, kg, usd in _SHIRTS]


def test_profiles_are_quantiles_of_the_compliant_lines() -> None:
    declarations = [parse_declaration(d) for d in _history()]
    refs = learn_references(declarations, quantile=0.0, margin=1.25, min_lines=30)
    assert set(refs) == {"clothes", "documents"}
    shirts = refs["clothes"]
    assert shirts.lines == 40
    assert shirts.min_unit_value_usd <= min(usd for _, _, usd in _SHIRTS) < shirts.min_unit_value_usd * 1.01
    low, high = shirts.unit_mass_kg
    kgs = [kg for _, kg, _ in _SHIRTS]
    # Rounded to three digits outwards, never narrower than the history.
    assert low <= min(kgs) / 1.25 < low * 1.01 and high >= max(kgs) * 1.25 > high / 1.01
    # Documents carry no value check in the taxonomy, so none is learned; their weight is.
    assert refs["documents"].min_unit_value_usd is None and refs["documents"].unit_mass_kg is not None
    assert learn_references(declarations, min_lines=41) == {}
    with pytest.raises(UsageError, match="quantile"):
        learn_references(declarations, quantile=0.5)


def _synth_folder(folder: Path) -> Path:
    folder.mkdir()
    rows = [{"file_name": f"p{i}.png", "declaration": d, "ground_truth": {"labels": ["compliant"]}}
            for i, d in enumerate(_history())]
    # A misdeclared parcel's lines are not history: four shirts at 1 USD would drag the floor down.
    rows.append({"file_name": "x.png", "declaration": _declaration(("t-shirt", 4, 1.2, 4.0)),
                 "ground_truth": {"labels": ["undervalued"]}})
    (folder / "declarations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def _manifest(path: Path) -> Path:
    rows = [",".join(CSV_COLUMNS)]
    for i, (q, kg, usd) in enumerate(_SHIRTS):
        rows.append(f"P{i},gift,CN,DE,USD,t-shirt,{q},{q * kg:.3f},{q * usd:.2f},,")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_sources_are_compliant_synth_parcels_or_a_manifest_of_cleared_ones(tmp_path: Path) -> None:
    from_synth = list(compliant_declarations(_synth_folder(tmp_path / "synth")))
    assert len(from_synth) == 40 and all(d.lines[0].value >= 10 for d in from_synth)
    from_csv = list(compliant_declarations(_manifest(tmp_path / "cleared.csv")))
    assert [d.lines[0].quantity for d in from_csv] == [q for q, _, _ in _SHIRTS]
    with pytest.raises(UsageError, match="does not exist"):
        list(compliant_declarations(tmp_path / "cleared.json"))
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "declarations.jsonl").write_text('{"file_name": "a.png"}\n', encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: no `declaration`"):
        list(compliant_declarations(tmp_path / "odd"))


def test_cli_writes_a_policy_that_flags_what_the_history_never_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "refs.yaml"
    synth, manifest = _synth_folder(tmp_path / "synth"), _manifest(tmp_path / "cleared.csv")
    sources = ["--data", str(synth), "--data", str(manifest)]
    assert main(["learn-references", *sources, "--out", str(out), "--version", "r1"]) == 0
    assert "80 compliant declarations" in capsys.readouterr().out
    policy = load_policy(out)
    assert policy.version == "r1" and policy.comparison.references["clothes"].lines == 80
    assert out.read_text(encoding="utf-8").startswith("# written by `nii learn-references`, 80 compliant")
    # Three shirts' weight declared as one: the shipped policy lets it pass, the learned one refers it.
    line = parse_declaration(_declaration(("t-shirt", 1, 0.9, 15.0)))
    assert compare(line, ()).findings == ()
    findings = compare(line, (), settings=policy.comparison).findings
    assert [f.code for f in findings] == ["unit_weight_atypical"]
    assert policy.decide(findings, "0" * 64).outcome.value == "refer"

    # Tuning floors on top keeps the references and the provenance of both steps.
    tuned = tmp_path / "tuned.yaml"
    write_tuned_policy(out, policy, "r1-tuned", tuned, "unit test")
    assert load_policy(tuned).comparison.references == policy.comparison.references
    notes = [line for line in tuned.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
    assert len(notes) == 2 and "learn-references" in notes[0] and "tune-policy" in notes[1]

    # Too little history is an error, and nothing is written.
    assert main(["learn-references", "--data", str(tmp_path / "synth"), "--min-lines", "500",
                 "--out", str(tmp_path / "none.yaml"), "--version", "r2"]) == 2
    assert not (tmp_path / "none.yaml").exists()


def test_a_policy_nii_cannot_load_back_is_not_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"decision\.refer_at"):
        write_policy(DEFAULT_POLICY_PATH, tmp_path / "p.yaml", "bad", "test", {"decision": {"refer_at": -1}})
    assert list(tmp_path.iterdir()) == []  # neither the policy nor its temporary file


def test_a_bad_reference_in_a_policy_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    bad = "references:\n    clothes: {lines: 10, unit_mass_kg: [2.0, 0.5]}"
    path.write_text(text.replace("references: {}", bad), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"comparison\.references\.clothes"):
        load_policy(path)
