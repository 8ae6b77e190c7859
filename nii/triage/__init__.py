"""Risk policy and decisions: scan + declaration + detector -> release / refer / hold with reasons.

`policy`: the versioned policy file and the scoring; `pipeline`: `triage()` and `Decision`;
`evaluate`: eval-triage over a synthetic folder; `tune`: detection floors searched on labelled
parcels; `references`: unit-value and unit-weight profiles learned from compliant declarations.
Never imports torch, fastapi or the store.
"""

from nii.triage.pipeline import Decision, DetectorLike, Scan, load_scan, triage
from nii.triage.policy import Outcome, Policy, Reason, load_policy

__all__ = [
    "Decision",
    "DetectorLike",
    "Outcome",
    "Policy",
    "Reason",
    "Scan",
    "load_policy",
    "load_scan",
    "triage",
]
