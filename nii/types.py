"""Vocabulary shared by every layer: the detector taxonomy and ground-truth labels."""

from enum import StrEnum

# The detector classes, in model output order (DESIGN.md taxonomy). A model card may carry its own
# list; this is the default the project trains and ships.
CLASS_NAMES: tuple[str, ...] = (
    "gun",
    "bullet",
    "knife",
    "scissors",
    "wrench",
    "pliers",
    "hammer",
    "lighter",
    "aerosol",
    "battery",
    "powerbank",
    "phone",
    "laptop",
    "bottle",
    "cigarettes",
)

# Goods that no detector class covers but parcels and declarations hold; checked by material and mass.
GOODS_KINDS: tuple[str, ...] = (
    "clothes",
    "shoes",
    "books",
    "toys",
    "cosmetics",
    "food",
    "cables",
    "chargers",
    "keys",
    "coins",
    "documents",
)

# Classes whose mere presence makes a parcel prohibited in mail.
PROHIBITED_CLASSES: frozenset[str] = frozenset({"gun", "bullet", "knife"})


class Misdeclaration(StrEnum):
    """Ground-truth labels of a synthetic parcel (a parcel is compliant when it has none)."""

    UNDECLARED_ITEM = "undeclared_item"
    MISDESCRIBED = "misdescribed"
    UNDERVALUED = "undervalued"
    QUANTITY_MISMATCH = "quantity_mismatch"
    PROHIBITED_ITEM = "prohibited_item"
    CONCEALED = "concealed"


COMPLIANT = "compliant"
