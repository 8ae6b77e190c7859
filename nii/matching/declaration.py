"""CN22/CN23-style declarations: the pydantic boundary schema, JSON and CSV readers.

A declaration enters as JSON (one parcel) or CSV (a batch manifest, one row per declared line);
it leaves as frozen dataclasses (`Declaration`, `DeclaredLine`) for the matcher. Every
`DeclarationError` names the field (``items[2].quantity``) and what was wrong with it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nii.errors import DeclarationError

CATEGORIES = ("gift", "sale_of_goods", "documents", "commercial_sample", "returned_goods", "other")
MAX_TEXT_CHARS = 300  # a CN23 description box holds far less; longer text is an error
MAX_ITEMS = 200
MAX_QUANTITY = 100_000
MAX_WEIGHT_KG = 1_000.0  # a postal parcel is at most 30-70 kg; beyond 1 t the number is nonsense
MAX_VALUE = 1e9
MAX_FILE_BYTES = 5_000_000
MAX_JSON_DEPTH = 8  # a declaration nests 3 levels ({"items": [{...}]}); json.loads recurses per level

# ISO 4217 active codes (plus a few common aliases' targets); an unknown code is an error.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN
    BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP
    GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD
    KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD
    SSP STN SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF
    XPF YER ZAR ZMW ZWL""".split()  # noqa: SIM905
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
# A JSON string: possessive, and running to the end when unterminated, so no input makes it backtrack.
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_NESTING_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
_HS = re.compile(r"^\d{6}$")


def _clean_text(value: str) -> str:
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") for c in value):
        raise ValueError("contains control or invisible characters; send plain printable text")
    value = " ".join(value.split())
    if not value:
        raise ValueError("is empty; describe the goods")
    if len(value) > MAX_TEXT_CHARS:
        raise ValueError(f"is {len(value)} characters long; at most {MAX_TEXT_CHARS} are accepted")
    return value


def _country(value: str) -> str:
    value = value.strip().upper()
    if not _COUNTRY.match(value):
        raise ValueError(f"must be an ISO 3166 alpha-2 code such as 'CN', got {value!r}")
    return value


def _currency(value: str) -> str:
    value = value.strip().upper()
    if value not in ISO_4217:
        raise ValueError(f"{value!r} is not an ISO 4217 currency code (e.g. USD, EUR, CNY)")
    return value


def normalise_hs(value: str | None) -> str | None:
    """'8517.13', '8517 13', '85171300' -> '851713'; blank -> None; malformed -> ValueError."""
    if value is None:
        return None
    text = re.sub(r"[\s.\-]", "", str(value))
    if not text:
        return None
    if not text.isdigit() or len(text) not in (6, 8, 10):
        raise ValueError(f"must be a 6-digit HS code (8 or 10 national digits accepted), got {value!r}")
    return text[:6]


class ItemIn(BaseModel):
    """One declared line as it arrives (CN23 box: description, quantity, weight, value, HS, origin)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    description: str
    quantity: Annotated[int, Field(ge=1, le=MAX_QUANTITY)]
    net_weight_kg: Annotated[float, Field(gt=0, le=MAX_WEIGHT_KG, allow_inf_nan=False)]
    value: Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)]
    currency: str | None = None  # defaults to the parcel currency
    hs_code: str | None = None
    origin_country: str | None = None

    @field_validator("description")
    @classmethod
    def _check_description(cls, v: str) -> str:
        return _clean_text(v)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, v: str | None) -> str | None:
        return None if v is None or v == "" else _currency(v)

    @field_validator("hs_code", mode="before")
    @classmethod
    def _check_hs(cls, v: Any) -> str | None:
        return normalise_hs(v)

    @field_validator("origin_country")
    @classmethod
    def _check_origin(cls, v: str | None) -> str | None:
        return None if v is None or v == "" else _country(v)


class DeclarationIn(BaseModel):
    """A parcel's declaration as it arrives; totals, when given, must agree with the lines."""

    # An unknown field is refused, not dropped: a misspelt 'total_value' or a field the sender
    # believes customs reads must not pass silently.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Literal[CATEGORIES] = "sale_of_goods"  # type: ignore[valid-type]
    sender_country: str
    recipient_country: str
    currency: str
    items: Annotated[list[ItemIn], Field(max_length=MAX_ITEMS)]
    total_value: float | None = None
    total_net_weight_kg: float | None = None

    @field_validator("sender_country", "recipient_country")
    @classmethod
    def _check_country(cls, v: str) -> str:
        return _country(v)

    @field_validator("currency")
    @classmethod
    def _check_currency(cls, v: str) -> str:
        return _currency(v)


@dataclass(frozen=True, slots=True)
class DeclaredLine:
    """One validated declared line. `value` is the line total in `currency`."""

    description: str
    quantity: int
    net_weight_kg: float
    value: float
    currency: str
    hs_code: str | None  # 6 digits, or None when blank
    origin_country: str | None


@dataclass(frozen=True, slots=True)
class Declaration:
    """A validated CN22/CN23-style declaration of one parcel."""

    category: str
    sender_country: str
    recipient_country: str
    currency: str
    lines: tuple[DeclaredLine, ...]

    @property
    def total_value(self) -> float:
        return round(sum(line.value for line in self.lines), 2)

    @property
    def total_net_weight_kg(self) -> float:
        return round(sum(line.net_weight_kg for line in self.lines), 3)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "sender_country": self.sender_country,
            "recipient_country": self.recipient_country,
            "currency": self.currency,
            "items": [dataclasses.asdict(x) for x in self.lines],
            "total_value": self.total_value,
            "total_net_weight_kg": self.total_net_weight_kg,
        }


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "declaration"


def _message(error: Any) -> str:
    if error["type"] != "extra_forbidden":
        return str(error["msg"])
    model = ItemIn if len(error["loc"]) > 1 else DeclarationIn
    return f"unknown field; the fields are {', '.join(model.model_fields)}"


def _translate(exc: ValidationError, source: str) -> DeclarationError:
    problems = "; ".join(f"{_field_path(e['loc'])}: {_message(e)}" for e in exc.errors()[:5])
    more = f" (and {exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return DeclarationError(f"{source}: invalid declaration: {problems}{more}")


def parse_declaration(data: Mapping[str, Any], *, source: str = "declaration") -> Declaration:
    """Validate a decoded JSON object into a `Declaration` (DeclarationError names the field)."""
    if not isinstance(data, Mapping):
        raise DeclarationError(f"{source}: expected a JSON object with 'items', got {type(data).__name__}")
    try:
        model = DeclarationIn.model_validate(dict(data))
    except ValidationError as exc:
        raise _translate(exc, source) from exc
    lines = tuple(
        DeclaredLine(
            description=item.description,
            quantity=item.quantity,
            net_weight_kg=item.net_weight_kg,
            value=item.value,
            currency=item.currency or model.currency,
            hs_code=item.hs_code,
            origin_country=item.origin_country,
        )
        for item in model.items
    )
    odd = [f"items[{i}].currency" for i, x in enumerate(lines) if x.currency != model.currency]
    if odd:
        raise DeclarationError(f"{source}: {', '.join(odd)} differ from the parcel currency {model.currency}")
    declaration = Declaration(
        model.category, model.sender_country, model.recipient_country, model.currency, lines
    )
    for name, given, actual in (
        ("total_value", model.total_value, declaration.total_value),
        ("total_net_weight_kg", model.total_net_weight_kg, declaration.total_net_weight_kg),
    ):
        if given is not None and abs(given - actual) > max(0.02, 0.01 * actual):
            raise DeclarationError(f"{source}: {name} is {given} but the items add up to {actual}")
    return declaration


def _json_depth(text: str) -> int:
    """How deep arrays and objects nest in JSON `text`; brackets inside strings do not count."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_NESTING_STEP.__getitem__, brackets)), default=0)


def declaration_from_json(text: str | bytes, *, source: str = "declaration") -> Declaration:
    """Parse JSON text or bytes (UTF-8) into a `Declaration`."""
    if len(text) > MAX_FILE_BYTES:
        raise DeclarationError(f"{source}: {len(text)} bytes is too large for a declaration")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8-sig")
        if _json_depth(text) > MAX_JSON_DEPTH:
            raise DeclarationError(
                f"{source}: JSON nested more than {MAX_JSON_DEPTH} levels deep; a declaration is one "
                'object with an "items" list of flat objects'
            )
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"{source}: not valid JSON ({exc}); send a UTF-8 JSON object") from exc
    return parse_declaration(data, source=source)


def read_declaration(path: Path) -> Declaration:
    """Read a declaration JSON file."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DeclarationError(f"cannot read declaration {path}: {exc.strerror or exc}") from exc
    return declaration_from_json(data, source=str(path))


CSV_COLUMNS = (
    "parcel_id", "category", "sender_country", "recipient_country", "currency",
    "description", "quantity", "net_weight_kg", "value", "hs_code", "origin_country",
)  # fmt: skip


def read_manifest_csv(source: Path | str) -> dict[str, Declaration]:
    """Read a batch manifest (one row per declared line, grouped by parcel_id) -> parcel_id: Declaration.

    `source` is a path or the CSV text. Parcel-level columns must agree within a parcel.
    """
    name = str(source) if isinstance(source, Path) else "manifest"
    try:
        text = source.read_text(encoding="utf-8-sig") if isinstance(source, Path) else source
    except (OSError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"cannot read manifest {name}: {exc}") from exc
    reader = csv.DictReader(io.StringIO(text))
    missing = [
        c
        for c in CSV_COLUMNS
        if c not in (reader.fieldnames or ()) and c not in ("hs_code", "origin_country")
    ]
    if missing:
        raise DeclarationError(f"{name}: missing columns {missing}; expected {list(CSV_COLUMNS)}")
    parcels: dict[str, dict[str, Any]] = {}
    for row_number, row in enumerate(reader, start=2):
        pid = (row.get("parcel_id") or "").strip()
        if not pid:
            raise DeclarationError(f"{name} row {row_number}: parcel_id is empty")
        head = {k: (row.get(k) or "").strip() for k in CSV_COLUMNS[1:5]}
        parcel = parcels.setdefault(pid, {**head, "items": [], "_row": row_number})
        for key, value in head.items():
            if parcel[key] != value:
                raise DeclarationError(
                    f"{name} row {row_number}: {key} {value!r} differs from {parcel[key]!r} "
                    f"given for parcel {pid} on row {parcel['_row']}"
                )
        parcel["items"].append({k: (row.get(k) or "").strip() or None for k in CSV_COLUMNS[5:]})
    result = {}
    for pid, parcel in parcels.items():
        row_number = parcel.pop("_row")
        result[pid] = parse_declaration(parcel, source=f"{name} parcel {pid} (from row {row_number})")
    return result
