"""What a synthetic parcel holds, as planned before rendering, and its ground-truth labels.

The planner decides every misdeclaration up front, per item, so that the renderer (which draws the
items) and the declaration writer (which describes them) agree by construction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nii.types import CLASS_NAMES, COMPLIANT, GOODS_KINDS, PROHIBITED_CLASSES, Misdeclaration


@dataclass(frozen=True, slots=True)
class ContentItem:
    """One kind of goods in a parcel and how the sender declares it."""

    kind: str  # a detector class (CLASS_NAMES) or a goods kind (GOODS_KINDS)
    quantity: int  # units of this kind physically in the parcel, >= 1
    mass_kg: float  # net mass of all units, kg
    concealed: bool = False  # hidden under or inside another object
    declared: bool = True  # False: no declaration line covers it
    misdescribed: bool = False  # its line names other goods or only a vague term ("gift")
    undervalued: bool = False  # its line's value is far below the reference value of the goods
    declared_quantity: int | None = None  # set (and != quantity) for a quantity mismatch

    def __post_init__(self) -> None:
        if self.kind not in CLASS_NAMES and self.kind not in GOODS_KINDS:
            raise ValueError(f"unknown kind {self.kind!r}: expected a detector class or a goods kind")
        if self.quantity < 1:
            raise ValueError(f"quantity must be >= 1, got {self.quantity}")
        if self.mass_kg <= 0:
            raise ValueError(f"mass_kg must be > 0, got {self.mass_kg}")
        if self.declared_quantity is not None and self.declared_quantity == self.quantity:
            raise ValueError("declared_quantity is only set when it differs from quantity")

    @property
    def detectable(self) -> bool:
        return self.kind in CLASS_NAMES


def ground_truth_labels(contents: Sequence[ContentItem]) -> tuple[str, ...]:
    """The parcel's labels, sorted: `("compliant",)` or the misdeclarations its contents carry."""
    labels: set[str] = set()
    for item in contents:
        if item.detectable and not item.declared:
            labels.add(Misdeclaration.UNDECLARED_ITEM)
        if item.declared and item.misdescribed:
            labels.add(Misdeclaration.MISDESCRIBED)
        if item.declared and item.undervalued:
            labels.add(Misdeclaration.UNDERVALUED)
        if item.declared and item.declared_quantity is not None:
            labels.add(Misdeclaration.QUANTITY_MISMATCH)
        if item.kind in PROHIBITED_CLASSES:
            labels.add(Misdeclaration.PROHIBITED_ITEM)
        if item.concealed:
            labels.add(Misdeclaration.CONCEALED)
    return tuple(sorted(str(v) for v in labels)) or (COMPLIANT,)
