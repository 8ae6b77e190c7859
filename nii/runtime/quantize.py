"""Static int8 quantisation (QDQ) of an exported nii model, calibrated on scans letterboxed exactly as
serving letterboxes them (`preprocess.letterbox` with the card's input spec).

Formats (activations / weights):
    u8s8  uint8 activations, int8 weights: the fast path of x86 CPUs (VNNI / AVX2 u8 x s8 products)
    s8s8  int8 both: ONNX Runtime's default, faster on ARM, often slower on x86
Weights per output channel, activations by MinMax over the calibration scans. The box-decoding and
sigmoid tail after the last convolutions stays in float (it is cheap, and int8 there would quantise
box coordinates in pixels), and so do the convolutions reading the image itself: on 3 input channels
an int8 kernel has nothing to gain (VNNI multiplies groups of 4) and measured slower than the float
one here, while the image keeps its full precision. The output keeps the nii-detector/1 contract:
same inputs, outputs and thresholds, so `Detector` serves it unchanged; its card carries a
`quantization` section.

Needs the ``onnx`` package (the train extra), as onnxruntime.quantization does.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort

from nii.errors import ModelError, UsageError
from nii.runtime.card import InputSpec, ModelCard, load_matching_card, sha256_file, write_card
from nii.runtime.preprocess import decode_image, letterbox

log = logging.getLogger(__name__)

QuantFormat = Literal["u8s8", "s8s8"]
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
DEFAULT_SAMPLES = 64  # calibration scans; MinMax settles after a few dozen
FLOAT_TAIL_OPS = frozenset({"Conv"})  # nodes after the last of these on every path stay float


def calibration_images(folder: Path, limit: int = DEFAULT_SAMPLES) -> list[Path]:
    """Up to `limit` image files under `folder` (recursively), evenly spread over the sorted list.

    Files under a `raw/` folder are skipped: `nii synth` keeps its 16-bit energy planes there, one
    plane per file, which serving never sees as a scan (it renders the pair to false colour first).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"scan folder {folder} not found")
    paths = sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        and "raw" not in p.relative_to(folder).parent.parts
    )
    if not paths:
        raise UsageError(f"scan folder {folder} holds no PNG/JPEG/BMP/TIFF images")
    if len(paths) > limit:
        picks = np.linspace(0, len(paths) - 1, limit).round().astype(int)
        paths = [paths[i] for i in picks]
    return paths


def calibration_batches(paths: Sequence[Path], spec: InputSpec) -> Iterator[np.ndarray]:
    """float32 [1, 3, S, S] per scan, decoded and letterboxed as `Detector` does."""
    for path in paths:
        tensor, _ = letterbox(decode_image(Path(path)), spec)
        yield tensor[None]


def _reader(paths: Sequence[Path], spec: InputSpec, input_name: str) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class ScanReader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches = calibration_batches(paths, spec)

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self._batches, None)
            return None if batch is None else {input_name: batch}

    return ScanReader()


def input_convs(model: Any) -> list[str]:
    """Names of the Conv nodes that read a graph input directly (the stem)."""
    inputs = {i.name for i in model.graph.input}
    return [n.name for n in model.graph.node if n.op_type == "Conv" and n.input and n.input[0] in inputs]


def float_tail_nodes(model: Any, anchors: frozenset[str] = FLOAT_TAIL_OPS) -> list[str]:
    """Names of nodes from which no `anchors` op (Conv) can be reached: the decoding tail."""
    consumers: dict[str, list[int]] = {}
    for i, node in enumerate(model.graph.node):
        for name in node.input:
            consumers.setdefault(name, []).append(i)
    feeds_anchor = [False] * len(model.graph.node)
    for i in reversed(range(len(model.graph.node))):  # ONNX nodes are topologically sorted
        feeds_anchor[i] = any(
            model.graph.node[j].op_type in anchors or feeds_anchor[j]
            for out in model.graph.node[i].output for j in consumers.get(out, [])
        )
    return [n.name for i, n in enumerate(model.graph.node)
            if not feeds_anchor[i] and n.op_type not in anchors and n.name]


def quantize_model(
    model: Path,
    calibration: Path,
    out: Path,
    *,
    fmt: QuantFormat = "u8s8",
    samples: int = DEFAULT_SAMPLES,
    per_channel: bool = True,
    reduce_range: bool = False,
) -> ModelCard:
    """Write `out` (.onnx, int8 QDQ) and its card; returns the card. See the module doc."""
    model, out = Path(model), Path(out)
    if fmt not in ("u8s8", "s8s8"):
        raise UsageError(f"format must be u8s8 or s8s8, got {fmt!r}")
    if out.suffix != ".onnx" or out.resolve() == model.resolve():
        raise UsageError(f"output {out} must be a new .onnx path (the card goes beside it)")
    try:
        import onnx
        from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as exc:
        raise ModelError(f"quantisation needs the onnx package ({exc}); pip install 'nii[train]'") from exc
    card = load_matching_card(model, "quantising")
    if card.quantization is not None:
        raise ModelError(f"{model} is already quantised ({card.quantization.get('format')}); "
                         f"quantise the float model")
    paths = calibration_images(calibration, samples)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        try:  # shape inference + graph optimisation, as onnxruntime recommends before quantising
            quant_pre_process(str(model), str(prepared), skip_symbolic_shape=True)
        except Exception as exc:  # pre-processing is an optimisation; quantise the original if it fails
            log.warning("quantisation pre-processing failed (%s); quantising %s as is", exc, model.name)
            prepared = model
        graph = onnx.load(str(prepared))
        tail = float_tail_nodes(graph)
        stem = input_convs(graph)
        input_name = graph.graph.input[0].name
        try:
            quantize_static(
                str(prepared), str(out), _reader(paths, card.input, input_name),
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8 if fmt == "u8s8" else QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=per_channel,
                reduce_range=reduce_range,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=tail + stem,
            )
        except Exception as exc:  # onnxruntime.quantization raises assorted errors
            raise ModelError(f"quantising {model} failed: {exc}") from exc
    quant = {
        "method": "static", "format": fmt, "graph": "QDQ",
        "activations": "uint8" if fmt == "u8s8" else "int8", "weights": "int8",
        "per_channel": per_channel, "reduce_range": reduce_range, "calibrate": "MinMax",
        "float_nodes": len(tail) + len(stem), "float_stem": stem,
        "calibration": {"folder": str(calibration), "images": len(paths), "letterbox": "as runtime"},
        "source": {"onnx": model.name, "sha256": card.onnx_sha256, "name": card.name,
                   "metrics": card.metrics},
        "onnxruntime": ort.__version__,
    }
    q_card = card.model_copy(update={
        "name": f"{card.name}-int8-{fmt}", "metrics": {}, "quantization": quant,
        "onnx_sha256": sha256_file(out), "created": datetime.now(UTC).isoformat(timespec="seconds"),
    })
    write_card(ModelCard.model_validate(q_card.model_dump()), out)
    log.info("wrote %s (%s, %d calibration scans, %d float tail nodes, stem %s in float)", out, fmt,
             len(paths), len(tail), stem)
    return q_card
