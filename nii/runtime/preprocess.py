"""Decoding and letterboxing with OpenCV (numpy arrays in, float32 NCHW tensors out).

Images inside nii are RGB uint8 [H, W, 3]. `to_rgb8` accepts and converts:
    uint8  [H, W], [H, W, 1]        grayscale, repeated to 3 channels
    uint8  [H, W, 3]                RGB, as is
    uint8  [H, W, 4]                RGBA, alpha dropped
    uint16 any of the above shapes  scaled linearly to 8 bits: value * 255 / p99.9, where p99.9 is
                                    the 99.9th percentile of the image (the bright air/background of
                                    a transmission scan maps to 255 and 0 stays 0); an image whose
                                    maximum is <= 255 is taken as 8-bit values stored in 16 bits.
Anything else (other dtypes, 2 or more than 4 channels, zero size) is a `ScanFormatError`.
"""

from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np

from nii.errors import ScanFormatError
from nii.runtime.card import InputSpec

MAX_PIXELS = 100_000_000  # decompression-bomb guard: largest width * height decode_image accepts
_HEADER_BYTES = 1 << 20  # how much of a file is read to find its dimensions
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (SOF0..SOF15 except DHT C4, JPG C8, DAC CC) carry the dimensions.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def image_header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or BMP header, None for other formats or short headers."""
    if head.startswith(_PNG_SIGNATURE) and len(head) >= 24 and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head.startswith(b"BM") and len(head) >= 26:
        width, height = struct.unpack("<ii", head[18:26])
        return abs(int(width)), abs(int(height))
    if head.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(head):
            if head[pos] != 0xFF:
                return None
            marker = head[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
                pos += 2
                continue
            (length,) = struct.unpack(">H", head[pos + 2:pos + 4])
            if marker in _JPEG_SOF:
                if pos + 9 > len(head):
                    return None
                height, width = struct.unpack(">HH", head[pos + 5:pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None


def read_image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image file, from its header when possible, else by decoding it."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_HEADER_BYTES)
    except OSError as exc:
        raise ScanFormatError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    size = image_header_size(head)
    if size is None:
        image = decode_image(Path(path))
        size = (image.shape[1], image.shape[0])
    return size


def _check_dims(width: int, height: int, source: str, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise ScanFormatError(f"{source}: image has zero size ({width}x{height})")
    if width * height > max_pixels:
        raise ScanFormatError(
            f"{source}: image is {width}x{height} = {width * height / 1e6:.0f} Mpx, above the "
            f"{max_pixels / 1e6:.0f} Mpx limit; split the scan or raise the limit"
        )


def decode_image(data: bytes | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode PNG/JPEG/BMP/TIFF bytes or file into RGB uint8 [H, W, 3] (see `to_rgb8`).

    The header's dimensions are checked against `max_pixels` before decoding.
    """
    source = str(data) if isinstance(data, Path) else "image bytes"
    if isinstance(data, Path):
        try:
            data = data.read_bytes()
        except OSError as exc:
            raise ScanFormatError(f"cannot read image {source}: {exc.strerror or exc}") from exc
    if not data:
        raise ScanFormatError(f"{source}: empty file, expected a PNG, JPEG, BMP or TIFF image")
    size = image_header_size(data[:_HEADER_BYTES])
    if size is not None:
        _check_dims(*size, source, max_pixels)
    buffer = np.frombuffer(data, dtype=np.uint8)
    try:
        image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ScanFormatError(f"{source}: cannot decode image ({exc.err or exc})") from exc
    if image is None:
        raise ScanFormatError(
            f"{source}: not a readable image or truncated; expected a PNG, JPEG, BMP or TIFF file"
        )
    _check_dims(image.shape[1], image.shape[0], source, max_pixels)
    if image.ndim == 3 and image.shape[2] == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    elif image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)
    return to_rgb8(image, source=source)


def to_rgb8(image: np.ndarray, *, source: str = "image") -> np.ndarray:
    """Convert an 8/16-bit gray, RGB or RGBA array to RGB uint8 [H, W, 3] (module doc has the rules)."""
    if not isinstance(image, np.ndarray):
        raise ScanFormatError(f"{source}: expected a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (3, 4)):
        raise ScanFormatError(
            f"{source}: expected [H, W], [H, W, 1], [H, W, 3] or [H, W, 4], got shape {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ScanFormatError(f"{source}: image has zero size {image.shape}")
    if image.dtype == np.uint16:
        image = _uint16_to_uint8(image)
    elif image.dtype != np.uint8:
        raise ScanFormatError(f"{source}: expected uint8 or uint16 pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return np.ascontiguousarray(image[:, :, :3])
    return image


def _uint16_to_uint8(image: np.ndarray) -> np.ndarray:
    peak = int(image.max())
    if peak <= 255:
        return image.astype(np.uint8)
    flat = image.reshape(-1)
    step = max(1, flat.size // 262_144)  # percentile on <= ~256k pixels: fast and stable enough
    top = float(np.percentile(flat[::step], 99.9))
    top = top if top > 0 else float(peak)
    scaled = image.astype(np.float32) * (255.0 / top)
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def letterbox(image: np.ndarray, spec: InputSpec) -> tuple[np.ndarray, tuple[float, float]]:
    """RGB uint8 [H, W, 3] -> float32 [3, S, S] tensor and (scale_x, scale_y) input px per image px.

    Resized keeping the aspect so the long side is S, placed at the top-left; every value is
    (pixel * spec.scale - mean) / std, padding is (pad_value - mean) / std.
    """
    size = spec.size
    image, (sx, sy) = fit(image, size)
    new_h, new_w = image.shape[:2]
    # Channel planes copied straight into the float tensor, then scaled in place: no HWC float copy.
    out = np.empty((3, size, size), dtype=np.float32)
    for c in range(3):
        out[c, :new_h, :new_w] = image[:, :, c]
    pad = spec.letterbox.pad_value / spec.scale  # in pixel units, before the scaling below
    out[:, new_h:, :] = pad
    out[:, :new_h, new_w:] = pad
    std = np.asarray(spec.std, dtype=np.float32)[:, None, None]
    mean = np.asarray(spec.mean, dtype=np.float32)[:, None, None]
    out *= spec.scale / std
    out -= mean / std
    return out, (sx, sy)


def fit(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[float, float]]:
    """Resize [H, W, C] keeping the aspect so the long side is ``size``; (scale_x, scale_y) new per old px."""
    height, width = image.shape[:2]
    ratio = size / max(height, width)
    new_w, new_h = max(1, min(size, round(width * ratio))), max(1, min(size, round(height * ratio)))
    if (new_w, new_h) != (width, height):
        image = _resize(image, new_w, new_h)
    return image, (new_w / width, new_h / height)


def _resize(image: np.ndarray, new_w: int, new_h: int) -> np.ndarray:
    """Area-average downscale (linear upscale); a large downscale goes through an exact integer step.

    OpenCV's INTER_AREA at a fractional ratio costs ~2 ms for 1024x768 -> 384x288 here; a whole-number
    box average first (its fast path) and a short fractional step halves that, with the same filter.
    """
    height, width = image.shape[:2]
    if new_w > width or new_h > height:
        return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    step = min(width // new_w, height // new_h)
    if step >= 2 and (width // step, height // step) != (new_w, new_h):
        image = cv2.resize(image, (width // step, height // step), interpolation=cv2.INTER_AREA)
    return cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_AREA)
