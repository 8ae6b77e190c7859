"""Declaration schema: valid input, and bad input that must name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from nii.errors import DeclarationError
from nii.matching.declaration import (
    declaration_from_json,
    normalise_hs,
    parse_declaration,
    read_declaration,
    read_manifest_csv,
)

GOOD = {
    "category": "sale_of_goods",
    "sender_country": "CN",
    "recipient_country": "FR",
    "currency": "EUR",
    "items": [
        {
            "description": "cotton t-shirt",
            "quantity": 2,
            "net_weight_kg": 0.4,
            "value": 18.0,
            "hs_code": "6109.10",
            "origin_country": "cn",
        },
        {"description": "smartphone", "quantity": 1, "net_weight_kg": 0.2, "value": 250.0, "currency": "EUR"},
    ],
    "total_value": 268.0,
}


def _with(path: str, value: object) -> dict:
    data = copy.deepcopy(GOOD)
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


def test_valid_declaration_is_normalised() -> None:
    d = parse_declaration(GOOD)
    assert d.currency == "EUR" and d.sender_country == "CN"
    assert d.lines[0].hs_code == "610910" and d.lines[0].origin_country == "CN"
    assert d.lines[1].hs_code is None and d.lines[1].currency == "EUR"
    assert d.total_value == 268.0 and d.total_net_weight_kg == pytest.approx(0.6)
    assert parse_declaration(d.to_json()) == d  # round trip


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (_with("items", KeyError), "items"),
        (_with("currency", "XYZ"), "currency"),
        (_with("sender_country", "France"), "sender_country"),
        (_with("items.0.quantity", -1), "items[0].quantity"),
        (_with("items.0.quantity", 10**9), "items[0].quantity"),
        (_with("items.1.net_weight_kg", 0), "items[1].net_weight_kg"),
        (_with("items.1.net_weight_kg", 5000), "items[1].net_weight_kg"),
        (_with("items.1.value", -5), "items[1].value"),
        (_with("items.1.value", float("nan")), "items[1].value"),
        (_with("items.0.hs_code", "85A713"), "items[0].hs_code"),
        (_with("items.0.hs_code", "8517"), "items[0].hs_code"),
        (_with("items.0.description", "x" * 5000), "items[0].description"),
        (_with("items.0.description", "phone\x00\x07"), "items[0].description"),
        (_with("items.0.description", "   "), "items[0].description"),
        (_with("items.1.currency", "USD"), "items[1].currency"),
        (_with("items.0.colour", "red"), "items[0].colour: unknown field; the fields are description"),
        (_with("total_valeu", 268.0), "total_valeu: unknown field; the fields are category"),
        (_with("total_value", 1.0), "total_value"),
        (_with("category", "bribe"), "category"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_declaration_names_the_field(data: dict, field: str) -> None:
    with pytest.raises(DeclarationError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_declaration(data)


@pytest.mark.parametrize(
    "text", [b"not json", b"[1, 2]", b"\xff\xfe", b""], ids=["text", "list", "bytes", "empty"]
)
def test_not_a_json_object(text: bytes) -> None:
    with pytest.raises(DeclarationError):
        declaration_from_json(text)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 50_000 + "]" * 50_000,
        '{"a":' * 20_000 + "1" + "}" * 20_000,
        json.dumps({**GOOD, "note": [[[[[[[["x"]]]]]]]]}),
    ],
    ids=["deep-array", "deep-object", "nine-levels"],
)
def test_deep_nesting_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(DeclarationError, match="nested more than 8 levels deep"):
        declaration_from_json(text)


def test_brackets_inside_strings_do_not_nest() -> None:
    data = _with("items.0.description", "box [[[[[[[[[[ {{{{{{{{{{ \\\" ]]]]")
    assert declaration_from_json(json.dumps(data)).lines[0].description.startswith("box [[[[")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("851713", "851713"),
        ("8517.13", "851713"),
        ("8517 13 00", "851713"),
        ("8517130090", "851713"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_hs(given: str | None, expected: str | None) -> None:
    assert normalise_hs(given) == expected


def test_read_declaration_file(tmp_path: Path) -> None:
    path = tmp_path / "d.json"
    path.write_text(json.dumps(GOOD), encoding="utf-8")
    assert read_declaration(path).lines[1].description == "smartphone"
    with pytest.raises(DeclarationError, match="cannot read"):
        read_declaration(tmp_path / "missing.json")


def test_manifest_csv_groups_lines_by_parcel() -> None:
    text = (
        "parcel_id,category,sender_country,recipient_country,currency,description,quantity,net_weight_kg,"
        "value,hs_code,origin_country\n"
        "P1,gift,CN,DE,USD,toy car,2,0.3,10,950300,CN\n"
        "P1,gift,CN,DE,USD,doll,1,0.2,8,,\n"
        "P2,sale_of_goods,US,FR,USD,laptop,1,1.9,700,847130,US\n"
    )
    manifest = read_manifest_csv(text)
    assert sorted(manifest) == ["P1", "P2"]
    assert [x.description for x in manifest["P1"].lines] == ["toy car", "doll"]
    assert manifest["P1"].lines[1].hs_code is None


def test_manifest_csv_errors_name_row_and_field() -> None:
    head = (
        "parcel_id,category,sender_country,recipient_country,currency,description,quantity,"
        "net_weight_kg,value\n"
    )
    with pytest.raises(DeclarationError, match=r"parcel P1.*items\[0\]\.quantity"):
        read_manifest_csv(head + "P1,gift,CN,DE,USD,toy car,two,0.3,10\n")
    with pytest.raises(DeclarationError, match="row 3: currency"):
        read_manifest_csv(head + "P1,gift,CN,DE,USD,toy,1,0.3,10\nP1,gift,CN,DE,EUR,doll,1,0.2,8\n")
    with pytest.raises(DeclarationError, match="missing columns"):
        read_manifest_csv("parcel_id,description\nP1,toy\n")
