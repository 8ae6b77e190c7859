"""The triage policy: findings -> risk score, ordered reasons and a decision (release / refer / hold).

Policy data lives in a versioned YAML file (`policy.yaml` beside this module by default). The
decision is a pure function of (findings, scan sha256, policy): the random control draw is a hash.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nii.config import load_yaml_model
from nii.errors import ConfigError
from nii.matching.compare import CompareSettings, Finding, Reference

DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.yaml")


class Outcome(StrEnum):
    RELEASE = "release"
    REFER = "refer"
    HOLD = "hold"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}  # critical first
_OUTCOME_RANK = {Outcome.RELEASE: 0, Outcome.REFER: 1, Outcome.HOLD: 2}


class _Override(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: float | None = None
    action: Literal["refer", "hold"] | None = None


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weight: Annotated[float, Field(ge=0)]
    severity: Severity
    action: Literal["refer", "hold"] | None = None
    min_score: Annotated[float, Field(ge=0, le=1)] | None = None
    by_subject: dict[str, _Override] = {}


class _Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    refer_at: Annotated[float, Field(gt=0)]
    hold_at: Annotated[float, Field(gt=0)]


class _Detection(BaseModel):
    model_config = ConfigDict(extra="forbid")
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    by_class: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}
    flips: Annotated[list[Literal["h", "v"]], Field(max_length=2)] = []


class _ReferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lines: Annotated[int, Field(ge=1)]
    min_unit_value_usd: Annotated[float, Field(gt=0)] | None = None
    unit_mass_kg: tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]] | None = None

    @model_validator(mode="after")
    def _check(self) -> _ReferenceIn:
        if self.unit_mass_kg is not None and self.unit_mass_kg[0] > self.unit_mass_kg[1]:
            raise ValueError(f"unit_mass_kg must be [low, high] with low <= high, got {self.unit_mass_kg}")
        return self


class _Comparison(BaseModel):
    model_config = ConfigDict(extra="forbid")
    undervalue_fraction: Annotated[float, Field(gt=0, le=1)] = 0.5
    unit_mass_tolerance: Annotated[float, Field(ge=1)] = 2.0
    ratio_organic_max: float = 1.35
    ratio_metal_min: float = 2.0
    foreground_lh_min: float = 0.03
    hue_organic: tuple[float, float] = (0.0, 70.0)
    hue_inorganic: tuple[float, float] = (70.0, 170.0)
    hue_metal: tuple[float, float] = (170.0, 300.0)
    foreground_saturation_min: int = 40
    foreground_value_max: int = 200
    kg_per_raw_attenuation: Annotated[float, Field(gt=0)] | None = None
    kg_per_colour_attenuation: Annotated[float, Field(gt=0)] | None = None
    metal_unexplained_min: Annotated[float, Field(ge=0, le=1)] = 0.25
    mass_ratio_max: Annotated[float, Field(gt=1)] = 2.5
    recall: dict[str, Annotated[float, Field(ge=0, le=1)]] = {}
    shortfall_p_max: Annotated[float, Field(gt=0, le=1)] = 0.05
    look_alikes: dict[str, dict[str, Annotated[float, Field(ge=0, le=1)]]] = {}
    look_alike_min: Annotated[float, Field(gt=0, le=1)] = 0.05
    same_object_iou: Annotated[float, Field(gt=0, le=1)] | None = None
    same_object_within: Annotated[float, Field(gt=0, le=1)] | None = None
    references: dict[str, _ReferenceIn] = {}
    min_attenuation: dict[str, Annotated[float, Field(ge=0, le=12)]] = {}


class _PolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Annotated[str, Field(min_length=1)]
    decision: _Decision
    random_control_rate: Annotated[float, Field(ge=0, le=1)]
    detection: _Detection = _Detection()
    rules: dict[str, _Rule]
    comparison: _Comparison = _Comparison()


@dataclass(frozen=True, slots=True)
class Rule:
    weight: float
    severity: Severity
    action: Outcome | None
    min_score: float | None
    by_subject: Mapping[str, tuple[float | None, Outcome | None]]


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason of a decision: machine code, officer text, severity and the weight it added."""

    code: str
    text: str
    severity: Severity
    weight: float
    subject: str | None = None

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "text": self.text,
            "severity": str(self.severity),
            "weight": self.weight,
            "subject": self.subject,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    outcome: Outcome
    risk_score: float
    reasons: tuple[Reason, ...]  # most severe first
    random_control: bool


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    refer_at: float
    hold_at: float
    random_control_rate: float
    min_score: float
    min_score_by_class: Mapping[str, float]
    flips: tuple[str, ...]  # test-time flips of every scan (nii.runtime.flips)
    rules: Mapping[str, Rule]
    comparison: CompareSettings
    source: str

    def detection_threshold(self, class_name: str, model_threshold: float = 0.0) -> float:
        """The class's floor: its `by_class` floor outright (below the model's threshold too), else
        `min_score`, which only raises the model's threshold."""
        return self.min_score_by_class.get(class_name, max(self.min_score, model_threshold))

    def random_draw(self, scan_sha256: str) -> float:
        """Uniform [0, 1) number fixed by the scan and the policy version."""
        digest = hashlib.sha256(f"{scan_sha256}:{self.version}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def decide(self, findings: Sequence[Finding], scan_sha256: str) -> Verdict:
        """Weigh findings into a verdict with reasons ordered by severity, then weight."""
        reasons: list[Reason] = []
        risk = 0.0
        floor = Outcome.RELEASE
        for f in findings:
            rule = self.rules.get(f.code)
            if rule is None:
                reasons.append(Reason(f.code, f.text, Severity.INFO, 0.0, f.subject))
                continue
            if rule.min_score is not None and f.score is not None and f.score < rule.min_score:
                continue
            weight, action = rule.weight, rule.action
            if f.subject is not None and f.subject in rule.by_subject:
                w, a = rule.by_subject[f.subject]
                weight = weight if w is None else w
                action = action if a is None else a
            risk += weight
            if action is not None and _OUTCOME_RANK[action] > _OUTCOME_RANK[floor]:
                floor = action
            reasons.append(Reason(f.code, f.text, rule.severity, weight, f.subject))
        by_score = (
            Outcome.HOLD
            if risk >= self.hold_at
            else Outcome.REFER
            if risk >= self.refer_at
            else Outcome.RELEASE
        )
        outcome = max(floor, by_score, key=_OUTCOME_RANK.__getitem__)
        random_control = False
        if outcome is Outcome.RELEASE and self.random_draw(scan_sha256) < self.random_control_rate:
            outcome, random_control = Outcome.REFER, True
            reasons.append(
                Reason(
                    "random_control",
                    f"selected for random control ({self.random_control_rate:.1%} of low-risk parcels)",
                    Severity.INFO,
                    0.0,
                )
            )
        reasons.sort(key=lambda r: (_SEVERITY_RANK[r.severity], -r.weight))
        return Verdict(outcome, round(risk, 3), tuple(reasons), random_control)


def _read(path: Path) -> Policy:
    model = load_yaml_model(path, _PolicyIn, "policy")
    if model.decision.hold_at < model.decision.refer_at:
        raise ConfigError(f"policy {path}: decision.hold_at must be >= refer_at")
    if len(set(model.detection.flips)) != len(model.detection.flips):
        raise ConfigError(f"policy {path}: detection.flips lists a flip twice")
    rules = {
        code: Rule(
            r.weight,
            r.severity,
            None if r.action is None else Outcome(r.action),
            r.min_score,
            {s: (o.weight, None if o.action is None else Outcome(o.action)) for s, o in r.by_subject.items()},
        )
        for code, r in model.rules.items()
    }
    settings = CompareSettings(
        **model.comparison.model_dump(exclude={"references"}),
        references={name: Reference(**r.model_dump()) for name, r in model.comparison.references.items()},
    )
    return Policy(
        version=model.version,
        refer_at=model.decision.refer_at,
        hold_at=model.decision.hold_at,
        random_control_rate=model.random_control_rate,
        min_score=model.detection.min_score,
        min_score_by_class=dict(model.detection.by_class),
        flips=tuple(model.detection.flips),
        rules=rules,
        comparison=settings,
        source=str(path),
    )


_load = lru_cache(maxsize=8)(_read)


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and validate a policy file (default: the one shipped with nii). Cached per path."""
    return _load(Path(path) if path is not None else DEFAULT_POLICY_PATH)


_NOTE = "# written by "  # provenance lines that `write_policy` keeps from policy to policy


def write_policy(source: Path, out: Path, version: str, note: str, sections: Mapping[str, Mapping]) -> None:
    """Copy the policy YAML at `source` to `out` with a new version and the keys of `sections` set
    (section -> key -> value); validated by loading it back. Comments are not kept, except the
    provenance lines of earlier `write_policy` calls, to which `note` is added."""
    text = source.read_text(encoding="utf-8")
    raw = yaml.safe_load(text)
    raw["version"] = version
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    notes = [line for line in text.splitlines() if line.startswith(_NOTE)]
    header = "".join(f"{line}\n" for line in [*notes, _NOTE + note])
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True), encoding="utf-8")
    try:
        _read(tmp)  # a policy nii writes must load: fail here, not at the first decision
    except ConfigError:
        tmp.unlink()
        raise
    tmp.replace(out)


def with_overrides(policy: Policy, **changes: object) -> Policy:
    """A copy of `policy` with fields replaced (tests and tuning; give it a new version)."""
    return dataclasses.replace(policy, **changes)
