"""Policy, pipeline, eval-triage and the CLI, with a fake detector (no model needed)."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.cli import DEFAULT_MODEL, _shares_line, main
from nii.errors import ConfigError
from nii.matching.compare import Finding, MaterialProfile
from nii.matching.declaration import parse_declaration, read_declaration
from nii.runtime.detector import Detections, Detector
from nii.triage.evaluate import evaluate_triage, goods_only_labels, group_shares, prohibited_undeclared
from nii.triage.pipeline import Scan, load_scan, triage
from nii.triage.policy import DEFAULT_POLICY_PATH, Outcome, load_policy
from nii.triage.tune import Parcel, attenuation_minima, tune_floors, write_tuned_policy
from nii.types import CLASS_NAMES

SAMPLES = Path(__file__).resolve().parents[2] / "sample_scans"
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


class FakeDetector:
    """Returns fixed detections for any image, side by side (separate objects)."""

    sha256 = "f" * 64
    card_sha256 = "c" * 64

    def __init__(self, *found: tuple[str, float]) -> None:
        self.found = found

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               flips: tuple[str, ...] = ()) -> Detections:
        own = getattr(self, "thresholds", {})  # a test may give it thresholds to report from, as a card does
        found = [(c, s) for c, s in self.found
                 if s >= (own.get(c, 0.0) if score_threshold is None else score_threshold)]
        n = len(found)
        return Detections(
            np.array([[10 + 50 * i, 10, 50 + 50 * i, 50] for i in range(n)], np.float32).reshape(n, 4),
            np.array([s for _, s in found], np.float32),
            np.array([CLASS_NAMES.index(c) for c, _ in found], np.int64),
            CLASS_NAMES,
        )


def _scan(sha: str = "a" * 64) -> Scan:
    return Scan("s1", sha, np.full((64, 64, 3), 255, np.uint8))


def _declaration(*lines: tuple[str, int, float, float]):
    return parse_declaration(
        {
            "sender_country": "CN",
            "recipient_country": "FR",
            "currency": "USD",
            "items": [
                {"description": d, "quantity": q, "net_weight_kg": w, "value": v} for d, q, w, v in lines
            ],
        }
    )


NO_RANDOM = dataclasses.replace(load_policy(), random_control_rate=0.0)


@pytest.mark.parametrize(
    ("lines", "found", "outcome", "first_code"),
    [
        ((("smartphone", 1, 0.2, 300.0),), (("phone", 0.9),), Outcome.RELEASE, None),
        (
            (("smartphone", 1, 0.2, 300.0),),
            (("phone", 0.9), ("gun", 0.8)),
            Outcome.HOLD,
            "prohibited_detected",
        ),
        ((("phone case", 1, 0.2, 300.0),), (("phone", 0.9),), Outcome.REFER, "undeclared_item"),
        ((("gift", 1, 0.5, 20.0),), (), Outcome.REFER, "vague_description"),
        ((("laptop", 1, 1.8, 15.0),), (("laptop", 0.9),), Outcome.REFER, "undervalued"),
        ((("t-shirt", 2, 0.4, 20.0),), (("lighter", 0.7),), Outcome.REFER, "dangerous_goods_not_declared"),
        ((("hammer", 1, 0.7, 20.0),), (("hammer", 0.9), ("hammer", 0.8)), Outcome.REFER, "quantity_exceeds"),
    ],
    ids=["compliant", "gun", "misdescribed", "vague", "undervalued", "dangerous", "quantity"],
)
def test_decisions(lines, found, outcome: Outcome, first_code: str | None) -> None:
    decision = triage(_scan(), _declaration(*lines), FakeDetector(*found), policy=NO_RANDOM)
    assert decision.outcome is outcome
    if first_code is not None:
        assert decision.reasons[0].code == first_code
    severities = [r.severity for r in decision.reasons]
    order = ["critical", "high", "medium", "low", "info"]
    assert severities == sorted(severities, key=order.index)
    assert decision.model_sha256 == FakeDetector.sha256 and decision.scan_sha256 == "a" * 64
    assert decision.model_card_sha256 == FakeDetector.card_sha256
    assert decision.policy_version == NO_RANDOM.version


def test_a_declared_item_not_seen_refers_only_where_the_detector_rarely_misses_it() -> None:
    declaration = _declaration(("laptop", 1, 1.8, 700.0))
    unmeasured = triage(_scan(), declaration, FakeDetector(), policy=NO_RANDOM)
    assert unmeasured.outcome is Outcome.REFER and unmeasured.reasons[0].code == "declared_not_seen"
    dull = FakeDetector()
    dull.recall = {"laptop": 0.6}  # the card says: 40% of laptops go unseen anyway
    assert triage(_scan(), declaration, dull, policy=NO_RANDOM).outcome is Outcome.RELEASE
    sharp = FakeDetector()
    sharp.recall = {"laptop": 0.98}
    decision = triage(_scan(), declaration, sharp, policy=NO_RANDOM)
    assert decision.outcome is Outcome.REFER and "2.0% of the time" in decision.reasons[0].text
    # A policy's own recall (written by tune-policy) takes precedence over the card's.
    tuned = dataclasses.replace(NO_RANDOM, comparison=dataclasses.replace(NO_RANDOM.comparison,
                                                                          recall={"laptop": 0.5}))
    assert triage(_scan(), declaration, sharp, policy=tuned).outcome is Outcome.RELEASE


def test_the_cards_look_alikes_let_a_declared_power_bank_explain_a_battery() -> None:
    declaration = _declaration(("power bank", 1, 0.3, 30.0))
    plain = FakeDetector(("battery", 0.9))
    assert triage(_scan(), declaration, plain, policy=NO_RANDOM).outcome is Outcome.REFER  # undeclared DG
    confused = FakeDetector(("battery", 0.9))
    confused.look_alikes = {"battery": {"powerbank": 0.17}}
    decision = triage(_scan(), declaration, confused, policy=NO_RANDOM)
    assert decision.outcome is Outcome.RELEASE
    assert [r.code for r in decision.reasons] == ["dangerous_goods_declared", "look_alike"]
    # A policy asking for a larger share (comparison.look_alike_min) keeps the battery undeclared.
    strict = dataclasses.replace(NO_RANDOM, comparison=dataclasses.replace(NO_RANDOM.comparison,
                                                                           look_alike_min=0.2))
    assert triage(_scan(), declaration, confused, policy=strict).outcome is Outcome.REFER


def test_a_policy_floor_below_the_models_threshold_asks_the_model_for_weaker_detections() -> None:
    declaration = _declaration(("t-shirt", 1, 0.2, 15.0))
    detector = FakeDetector(("gun", 0.3), ("bottle", 0.3))
    detector.thresholds = {name: 0.5 for name in CLASS_NAMES}
    assert triage(_scan(), declaration, detector, policy=NO_RANDOM).outcome is Outcome.RELEASE
    wary = dataclasses.replace(NO_RANDOM, min_score_by_class={"gun": 0.25})
    decision = triage(_scan(), declaration, detector, policy=wary)
    # Weak, so an officer looks at the image first rather than the parcel being opened.
    assert decision.outcome is Outcome.REFER and decision.reasons[0].code == "prohibited_suspected"
    assert [(d.class_name, d.weak) for d in decision.comparison.detections] == [("gun", True)]  # bottle: 0.5
    strong = FakeDetector(("gun", 0.6))
    strong.thresholds = detector.thresholds
    decision = triage(_scan(), declaration, strong, policy=wary)
    assert decision.outcome is Outcome.HOLD and decision.reasons[0].code == "prohibited_detected"
    # min_score alone only raises the model's thresholds.
    low = dataclasses.replace(NO_RANDOM, min_score=0.1)
    assert triage(_scan(), declaration, detector, policy=low).outcome is Outcome.RELEASE


def test_a_policy_with_flips_asks_the_model_for_them() -> None:
    class Recording(FakeDetector):
        def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
                   flips: tuple[str, ...] = ()) -> Detections:
            self.flips = flips
            return super().detect(image, score_threshold=score_threshold)

    detector = Recording(("phone", 0.9))
    declaration = _declaration(("mobile phone", 1, 0.2, 300.0))
    assert triage(_scan(), declaration, detector, policy=NO_RANDOM).outcome is Outcome.RELEASE
    assert detector.flips == ()
    triage(_scan(), declaration, detector, policy=dataclasses.replace(NO_RANDOM, flips=("h", "v")))
    assert detector.flips == ("h", "v")


def test_decision_is_reproducible_and_json() -> None:
    declaration = _declaration(("phone case", 1, 0.2, 300.0))
    a = triage(_scan(), declaration, FakeDetector(("phone", 0.9)))
    b = triage(_scan(), declaration, FakeDetector(("phone", 0.9)))
    ja, jb = a.to_json(), b.to_json()
    ja.pop("elapsed_ms"), jb.pop("elapsed_ms")
    assert ja == jb
    assert ja["reasons"][0] == {
        "code": "undeclared_item",
        "text": "1 x phone seen (best score 0.90) but not declared",
        "severity": "high",
        "weight": 1.5,
        "subject": "phone",
    }
    json.dumps(ja)


def test_random_control_is_deterministic_at_the_policy_rate() -> None:
    policy = dataclasses.replace(load_policy(), random_control_rate=0.1)
    draws = [policy.random_draw(f"{i:064x}") for i in range(4000)]
    assert draws == [policy.random_draw(f"{i:064x}") for i in range(4000)]
    assert 0.08 < float(np.mean(np.array(draws) < 0.1)) < 0.12
    selected = next(f"{i:064x}" for i, d in enumerate(draws) if d < 0.1)
    verdict = policy.decide([], selected)
    assert verdict.outcome is Outcome.REFER and verdict.random_control
    assert verdict.reasons[0].code == "random_control"


def test_policy_rule_overrides() -> None:
    policy = load_policy()
    finding = Finding("dangerous_goods_declared", "lighter seen, declared", "lighter", score=0.8)
    assert policy.decide([finding], "0" * 64).risk_score == 0.0
    strict = dataclasses.replace(
        policy,
        random_control_rate=0.0,
        rules={
            **policy.rules,
            "dangerous_goods_declared": dataclasses.replace(
                policy.rules["dangerous_goods_declared"], by_subject={"lighter": (0.0, Outcome.HOLD)}
            ),
        },
    )
    assert strict.decide([finding], "0" * 64).outcome is Outcome.HOLD


def test_bad_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    text = (Path(load_policy().source)).read_text(encoding="utf-8")
    path.write_text(text.replace("refer_at: 1.0", "refer_at: -1"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"decision\.refer_at"):
        load_policy(path)
    path.write_text(text.replace("random_control_rate:", "random_rate:"), encoding="utf-8")
    with pytest.raises(ConfigError, match="random"):
        load_policy(path)
    for flips, message in (("[h, h]", "a flip twice"), ("[x]", r"detection\.flips")):
        path.write_text(text.replace("flips: []", f"flips: {flips}"), encoding="utf-8")
        with pytest.raises(ConfigError, match=message):
            load_policy(path)
    path.write_text(text.replace("flips: []", "flips: [v, h]"), encoding="utf-8")
    assert load_policy(path).flips == ("v", "h")


def test_the_policies_shipped_for_the_model_load_and_name_it() -> None:
    # Floors and density levels are tuned for one model: shipping other weights means tuning again.
    sha = Detector(DEFAULT_MODEL, threads=1, warmup=False).sha256[:6]
    shipped = sorted(CONFIGS.glob("policy-*-nii-nano.yaml"))
    assert len(shipped) >= 3
    policies = [load_policy(path) for path in shipped]
    assert len({p.version for p in policies}) == len(policies)
    for policy in policies:
        assert sha in policy.version
        assert set(policy.min_score_by_class) == set(CLASS_NAMES)
        assert set(policy.comparison.min_attenuation) <= set(CLASS_NAMES)


def test_sample_scan_with_raw_channels() -> None:
    scan = load_scan(SAMPLES / "scan_00.png")
    assert scan.raw_low is not None and scan.raw_low.shape == scan.rgb.shape[:2]
    declaration = read_declaration(SAMPLES / "scan_00.json")
    decision = triage(scan, declaration, FakeDetector(("hammer", 0.9), ("hammer", 0.85)), policy=NO_RANDOM)
    assert decision.comparison.material is not None and decision.comparison.material.source == "dual_energy"
    assert decision.comparison.lines[3].explains == ("hammer",) and decision.comparison.lines[3].seen == 2
    assert "undervalued" in {r.code for r in decision.reasons}  # nail polish at 0.25 USD for 2
    assert decision.outcome is Outcome.REFER


def test_a_bullet_over_nothing_dense_is_not_counted_when_the_scan_has_readings() -> None:
    # FakeDetector puts its first box at x 10-50, its second at 60-100; only the second lies on metal.
    high = np.full((64, 128), 65535, np.uint16)
    high[20:40, 70:90] = int(65535 * np.exp(-3.0))
    rgb = np.full((64, 128, 3), 255, np.uint8)
    scan = Scan("s1", "a" * 64, rgb, high.copy(), high)
    declared = _declaration(("smartphone", 1, 0.2, 300.0))
    policy = dataclasses.replace(NO_RANDOM, comparison=dataclasses.replace(
        NO_RANDOM.comparison, min_attenuation={"bullet": 2.0}))
    light = triage(scan, declared, FakeDetector(("bullet", 0.9), ("phone", 0.9)), policy=policy)
    assert light.outcome is Outcome.RELEASE
    assert [d.class_name for d in light.comparison.discounted] == ["bullet"]
    assert "detection_discounted" in {r.code for r in light.reasons}
    dense = triage(scan, declared, FakeDetector(("phone", 0.9), ("bullet", 0.9)), policy=policy)
    assert dense.outcome is Outcome.HOLD and dense.comparison.discounted == ()
    # The same bullet on a scan without readings counts.
    assert triage(_scan(), declared, FakeDetector(("bullet", 0.9)), policy=policy).outcome is Outcome.HOLD


def test_tune_floors_asks_each_class_for_the_attenuation_its_true_detections_show(tmp_path: Path) -> None:
    shirt = ("t-shirt", 1, 0.2, 15.0)

    def parcel(name: str, labels: set[str], att: float, truth: str = "") -> Parcel:
        p = _parcel(name, labels, shirt, ("bullet", 0.8), truth=truth)
        return dataclasses.replace(p, attenuation=np.array([att], np.float32),
                                   matched=np.array([bool(truth)]))

    parcels = [*(parcel(f"b{i}", {"prohibited_item"}, 2.5 + i / 10, truth="bullet") for i in range(20)),
               *(parcel(f"c{i}", {"compliant"}, 1.0) for i in range(10))]  # bullets seen on paperbacks
    assert attenuation_minima(parcels) == {"bullet": 2.5}
    assert attenuation_minima(parcels[1:]) == {}  # 19 true detections are too few to measure on
    result = tune_floors(parcels, NO_RANDOM, ["bullet"], min_prohibited=1.0, attenuation_keep=0.99)
    assert result.before == (1.0, None, 0.0) and result.after == (1.0, None, 1.0)
    assert result.policy.comparison.min_attenuation == {"bullet": 2.5}
    assert tune_floors(parcels, NO_RANDOM, ["bullet"]).after == (1.0, None, 0.0)  # levels not asked for
    out = tmp_path / "tuned.yaml"
    write_tuned_policy(DEFAULT_POLICY_PATH, result.policy, "test-tuned", out, "unit test")
    assert load_policy(out).comparison.min_attenuation == {"bullet": 2.5}


def _mini_synth(folder: Path) -> None:
    (folder / "images").mkdir(parents=True)
    rows = [
        ("p0.png", [("smartphone", 1, 0.2, 300.0)], [("phone", [10, 10, 40, 60])], ["compliant"]),
        (
            "p1.png",
            [("t-shirt", 1, 0.2, 15.0)],
            [("knife", [5, 5, 30, 12])],
            ["prohibited_item", "undeclared_item"],
        ),
        ("p2.png", [("phone case", 1, 0.2, 300.0)], [("phone", [10, 10, 40, 60])], ["misdescribed"]),
    ]
    contents = {"p1.png": [_item("clothes"), _item("knife", declared=False)]}
    images, annotations = [], []
    with (folder / "declarations.jsonl").open("w", encoding="utf-8") as fh:
        for i, (name, lines, boxes, labels) in enumerate(rows):
            cv2.imwrite(str(folder / "images" / name), np.full((64, 64, 3), 255, np.uint8))
            images.append({"id": i, "file_name": name, "width": 64, "height": 64})
            for c, (x1, y1, x2, y2) in boxes:
                annotations.append(
                    {
                        "id": len(annotations),
                        "image_id": i,
                        "bbox": [x1, y1, x2 - x1, y2 - y1],
                        "category_id": CLASS_NAMES.index(c) + 1,
                    }
                )
            declaration = _declaration(*lines).to_json()
            fh.write(
                json.dumps(
                    {
                        "file_name": name,
                        "declaration": declaration,
                        "ground_truth": {"labels": labels, "contents": contents.get(name, [])},
                    }
                )
                + "\n"
            )
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(CLASS_NAMES)]
    (folder / "annotations.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": categories}), encoding="utf-8"
    )


def test_eval_triage_oracle_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mini_synth(tmp_path / "synth")
    report = evaluate_triage(tmp_path / "synth", None, oracle=True, policy=NO_RANDOM)
    assert report.parcels == 3 and report.errors == 0
    assert report.prohibited_stopped == 1.0 and report.misdeclared_flagged == 1.0
    assert report.compliant_released == 1.0
    assert report.per_label["prohibited_item"] == {"release": 0, "refer": 0, "hold": 1}
    assert report.prohibited_undeclared == {"release": 0, "refer": 0, "hold": 1}  # the knife is not declared
    out = tmp_path / "report.json"
    lines = tmp_path / "decisions.jsonl"
    assert main(["eval-triage", "--data", str(tmp_path / "synth"), "--oracle", "--json", str(out),
                 "--decisions", str(lines)]) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert {"prohibited_stopped", "misdeclared_flagged", "compliant_released", "per_label"} <= set(data)
    assert data["per_label_goods_only"] == {}  # no line label falls on goods alone
    assert data["undeclared_prohibited_stopped"] == 1.0
    assert "  not declared" in capsys.readouterr().out
    parcels = [json.loads(line) for line in lines.read_text(encoding="utf-8").splitlines()]
    held = [p for p in parcels if "prohibited_item" in p["labels"]]
    assert len(parcels) == 3 and len(held) == 1 and held[0]["decision"] == "hold"
    assert held[0]["reasons"] and held[0]["model_sha256"] == "ground-truth"
    assert main(["eval-triage", "--data", str(tmp_path / "synth"), "--oracle",
                 "--decisions", str(tmp_path / "no" / "dir" / "d.jsonl")]) == 2
    # The detector path reports a missing model as a one-line error.
    assert main(["eval-triage", "--data", str(tmp_path / "synth"), "--model", str(tmp_path / "no.onnx")]) == 2
    capsys.readouterr()


def _item(kind: str, **flags: object) -> dict:
    return {"kind": kind, "declared": True, "misdescribed": False, "undervalued": False,
            "declared_quantity": None, **flags}


def test_a_prohibited_item_counts_as_hidden_when_the_declaration_leaves_it_off_or_misnames_it() -> None:
    assert prohibited_undeclared([_item("clothes"), _item("bullet", declared=False)])
    assert not prohibited_undeclared([_item("gun"), _item("battery", declared=False)])  # declared gun
    assert prohibited_undeclared([_item("gun", misdescribed=True)])  # declared as a toy
    assert not prohibited_undeclared([])


def test_goods_only_labels_name_line_labels_no_detector_class_can_show() -> None:
    contents = [
        _item("clothes", declared_quantity=1),  # 2 shirts declared as 1: no class counts shirts
        _item("phone", misdescribed=True),  # a phone declared as a case: the detector sees a phone
        _item("cosmetics", undervalued=True),
        _item("battery", declared=False),  # undeclared: no line, no line label
    ]
    assert goods_only_labels(contents) == {"quantity_mismatch", "undervalued"}
    # a label on a detector class anywhere in the parcel is one the scan can show
    assert goods_only_labels([*contents, _item("knife", declared_quantity=2)]) == {"undervalued"}
    assert goods_only_labels([]) == frozenset()


def test_shares_are_exact_until_printed(capsys: pytest.CaptureFixture[str]) -> None:
    # 238 of 356 is 66.85%: rounding to 4 digits first, then to 1 for display, printed 66.8%
    rows = [(frozenset({"compliant"}), "release")] * 238 + [(frozenset({"compliant"}), "refer")] * 118
    assert group_shares(rows) == (None, None, 238 / 356)
    assert _shares_line(group_shares(rows)).endswith("compliant released 66.9%")


def test_classify_description_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["classify-description", "Handyhülle Leder", "--hs", "4202.32", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["categories"][0] == "accessories" and data["hs_code"] == "420232"
    assert main(["classify-description", "cadeau"]) == 0
    assert "vague_description" in capsys.readouterr().out
    assert main(["classify-description", "toy", "--hs", "12AB"]) == 2


def _parcel(name: str, labels: set[str], line: tuple, *found: tuple[str, float], truth: str = "") -> Parcel:
    return Parcel(name, frozenset(labels), _declaration(line), FakeDetector(*found).detect(_scan().rgb),
                  MaterialProfile(0.5, 0.3, 0.2, 0.3, "false_colour", None), (name * 64)[:64],
                  Counter(truth.split()))


def test_tune_floors_cuts_false_alarms_and_keeps_prohibited(tmp_path: Path) -> None:
    shirt = ("t-shirt", 1, 0.2, 15.0)
    parcels = [
        *(_parcel(f"c{i}", {"compliant"}, shirt, ("bottle", 0.45)) for i in range(4)),  # false alarms
        *(_parcel(f"u{i}", {"undeclared_item"}, shirt, ("bottle", 0.85), truth="bottle") for i in range(2)),
        _parcel("m", {"undeclared_item"}, shirt, ("bottle", 0.3), truth="bottle"),  # found below any floor
        _parcel("g", {"prohibited_item"}, shirt, ("gun", 0.6), truth="gun"),
        *(_parcel(f"b{i}", {"compliant"}, shirt, ("lighter", 0.45)) for i in range(3)),  # false alarms
    ]
    result = tune_floors(parcels, NO_RANDOM, ["gun", "bottle", "lighter"])
    assert result.before == (1.0, 1.0, 0.0)
    assert result.after == (1.0, 2 / 3, 4 / 7)  # the lighter alarms stay
    assert 0.45 < result.policy.min_score_by_class["bottle"] <= 0.85
    # The recall at the tuned floors travels with the policy: 2 of 3 bottles, the gun.
    assert result.policy.comparison.recall == {"bottle": 0.6667, "gun": 1.0}
    # Prohibited and dangerous-goods classes are never raised, whatever alarms they cost.
    assert "gun" not in result.policy.min_score_by_class and "lighter" not in result.policy.min_score_by_class
    out = tmp_path / "tuned.yaml"
    write_tuned_policy(DEFAULT_POLICY_PATH, result.policy, "test-tuned", out, "unit test")
    tuned = load_policy(out)
    assert tuned.version == "test-tuned"
    assert tuned.min_score_by_class == result.policy.min_score_by_class
    assert tuned.comparison.recall == result.policy.comparison.recall
    assert tuned.rules == NO_RANDOM.rules


def test_tune_floors_lowers_a_prohibited_floor_until_prohibited_parcels_are_stopped() -> None:
    shirt = ("t-shirt", 1, 0.2, 15.0)
    parcels = [
        _parcel("g", {"prohibited_item"}, shirt, ("gun", 0.35), truth="gun"),  # below the model's 0.5
        _parcel("k", {"prohibited_item"}, shirt, ("knife", 0.8), truth="knife"),
        *(_parcel(f"c{i}", {"compliant"}, shirt, ("gun", 0.15)) for i in range(3)),  # weaker false alarms
    ]
    thresholds = {"gun": 0.5, "knife": 0.5, "bottle": 0.5}
    result = tune_floors(parcels, NO_RANDOM, ["gun", "knife", "bottle"], thresholds=thresholds,
                         min_prohibited=1.0)
    assert result.before == (0.5, None, 1.0) and result.after == (1.0, None, 1.0)
    assert result.policy.min_score_by_class["gun"] == 0.3  # the highest floor that stops the gun
    assert result.policy.min_score_by_class["knife"] == 0.5  # never raised, not lowered for nothing


def test_tune_floors_pays_compliant_parcels_for_a_misdeclared_floor() -> None:
    shirt = ("t-shirt", 1, 0.2, 15.0)
    parcels = [
        _parcel("u", {"undeclared_item"}, shirt, ("bottle", 0.35), truth="bottle"),  # a weak true bottle
        *(_parcel(f"c{i}", {"compliant"}, shirt, ("bottle", 0.35)) for i in range(2)),  # as weak, false
    ]
    thresholds = {"bottle": 0.5}
    # One misdeclared parcel is not worth two compliant ones, unless a floor on its share says so.
    plain = tune_floors(parcels, NO_RANDOM, ["bottle"], thresholds=thresholds)
    assert plain.after == (None, 0.0, 1.0) and plain.policy.min_score_by_class["bottle"] > 0.35
    asked = tune_floors(parcels, NO_RANDOM, ["bottle"], thresholds=thresholds, min_misdeclared=0.9)
    assert asked.after == (None, 1.0, 0.0) and asked.policy.min_score_by_class["bottle"] <= 0.35


def test_triage_cli_with_the_shipped_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scan, declaration = str(SAMPLES / "scan_00.png"), str(SAMPLES / "scan_00.json")
    assert main(["triage", scan, "--declaration", declaration, "--threads", "1", "--json"]) == 0
    decision = json.loads(capsys.readouterr().out)
    detector = Detector(DEFAULT_MODEL, threads=1, warmup=False)
    assert decision["model_sha256"] == detector.sha256
    assert decision["model_card_sha256"] == detector.card_sha256
    assert decision["decision"] in ("release", "refer", "hold") and decision["lines"]
    assert main(["triage", scan, "--declaration", declaration, "--threads", "1"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith(f"scan_00: {decision['decision'].upper()}") and detector.card_sha256[:12] in first
    bad = tmp_path / "bad.json"
    bad.write_text('{"items": []}', encoding="utf-8")
    assert main(["triage", scan, "--declaration", str(bad)]) == 2
    assert "sender_country: Field required" in capsys.readouterr().err


def test_tune_policy_cli_with_the_shipped_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _mini_synth(tmp_path / "synth")
    out = tmp_path / "tuned.yaml"
    assert main(["tune-policy", "--data", str(tmp_path / "synth"), "--out", str(out), "--version", "t1",
                 "--min-prohibited", "0.99", "--attenuation-keep", "0.99"]) == 0
    assert load_policy(out).version == "t1"
    header = out.read_text(encoding="utf-8").splitlines()[0]
    assert "--min-prohibited 0.99, --attenuation-keep 0.99, model" in header
    assert "after:" in capsys.readouterr().out
    missing = str(tmp_path / "nothing")
    assert main(["tune-policy", "--data", missing, "--out", str(out), "--version", "t"]) == 2
    assert main(["tune-policy", "--data", str(tmp_path / "synth"), "--out", str(out), "--version", "t",
                 "--attenuation-keep", "1.5"]) == 2
    assert "--attenuation-keep must lie in [0, 1]" in capsys.readouterr().err
