"""Decoding, 8/16-bit conversion and letterboxing."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.errors import ScanFormatError
from nii.runtime.card import InputSpec
from nii.runtime.preprocess import decode_image, image_header_size, letterbox, read_image_size, to_rgb8


def _png(width: int, height: int) -> bytes:
    """A PNG header (signature + IHDR chunk) claiming width x height, without pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return b"\x89PNG\r\n\x1a\n" + chunk


def _encoded(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_header_size_matches_decoded_size(ext: str, tmp_path: Path) -> None:
    data = _encoded(ext, np.zeros((37, 53, 3), np.uint8))
    assert image_header_size(data) == (53, 37)
    (tmp_path / f"a{ext}").write_bytes(data)
    assert read_image_size(tmp_path / f"a{ext}") == (53, 37)


def test_decode_returns_rgb() -> None:
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 0] = 200  # blue in OpenCV order
    rgb = decode_image(_encoded(".png", bgr))
    assert rgb.shape == (4, 5, 3) and rgb.dtype == np.uint8
    assert rgb[0, 0].tolist() == [0, 0, 200]


def test_decode_16bit_gray_png_scales_to_8bit() -> None:
    gray = np.full((10, 10), 40000, np.uint16)
    gray[0, 0] = 0
    rgb = decode_image(_encoded(".png", gray))
    assert rgb.shape == (10, 10, 3)
    assert rgb[5, 5].tolist() == [255, 255, 255] and rgb[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"hello, not an image", "not a readable image"),
        (_png(200_000, 100_000), "Mpx"),
        (_png(0, 10), "zero size"),
    ],
    ids=["empty", "not-image", "bomb", "zero-size"],
)
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ScanFormatError, match=message):
        decode_image(data)


def test_decode_rejects_truncated_png() -> None:
    data = _encoded(".png", np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(ScanFormatError, match="truncated"):
        decode_image(data[: len(data) // 2])


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (np.full((3, 4), 7, np.uint8), [7, 7, 7]),
        (np.full((3, 4, 1), 7, np.uint8), [7, 7, 7]),
        (np.dstack([np.full((3, 4), v, np.uint8) for v in (1, 2, 3)]), [1, 2, 3]),
        (np.dstack([np.full((3, 4), v, np.uint8) for v in (1, 2, 3, 9)]), [1, 2, 3]),
        (np.full((3, 4), 200, np.uint16), [200, 200, 200]),
    ],
    ids=["gray", "gray1", "rgb", "rgba", "uint16-small"],
)
def test_to_rgb8_accepts(image: np.ndarray, expected: list[int]) -> None:
    out = to_rgb8(image)
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert out[1, 1].tolist() == expected


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((3, 4, 2), np.uint8), "got shape"),
        (np.zeros((3, 4, 5), np.uint8), "got shape"),
        (np.zeros((3, 4, 3), np.float32), "uint8 or uint16"),
        (np.zeros((0, 4, 3), np.uint8), "zero size"),
        (np.zeros((2, 3, 4, 3), np.uint8), "got shape"),
        ([[1, 2]], "numpy array"),
    ],
    ids=["2-channels", "5-channels", "float", "zero-size", "4d", "list"],
)
def test_to_rgb8_rejects(image: np.ndarray, message: str) -> None:
    with pytest.raises(ScanFormatError, match=message):
        to_rgb8(image)


def test_letterbox_top_left_with_padding() -> None:
    image = np.zeros((50, 100, 3), np.uint8)  # h 50, w 100 -> 64 x 32 in a 64 x 64 input
    tensor, (sx, sy) = letterbox(image, InputSpec(size=64))
    assert tensor.shape == (3, 64, 64) and tensor.dtype == np.float32
    assert (sx, sy) == (0.64, 0.64)
    assert np.all(tensor[:, :32, :] == 0.0) and np.all(tensor[:, 32:, :] == 1.0)


def test_letterbox_normalises_with_mean_and_std() -> None:
    spec = InputSpec(size=4, mean=[0.5, 0.5, 0.5], std=[0.5, 0.25, 1.0])
    tensor, _ = letterbox(np.full((2, 4, 3), 255, np.uint8), spec)
    assert tensor[:, 0, 0].tolist() == pytest.approx([1.0, 2.0, 0.5])  # (1 - 0.5) / std
    assert tensor[:, 3, 0].tolist() == pytest.approx([1.0, 2.0, 0.5])  # padding of 1.0 too
