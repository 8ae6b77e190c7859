"""Serving-side inference on ONNX Runtime. Never imports torch.

`card`: the model card (the ONNX contract); `preprocess`: decoding and letterboxing;
`postprocess`: thresholds and NMS in numpy; `detector`: `Detector` and `Detections`;
`session`: providers, fp16, IOBinding; `tiling`: long scans; `yolo`: Ultralytics exports
(`YoloDetector`, `load_detector`); `quantize`: static int8 (imported on use, needs onnx).
"""

from nii.runtime.card import InputSpec, ModelCard, load_card, sha256_file, write_card
from nii.runtime.detector import Detections, Detector
from nii.runtime.preprocess import decode_image
from nii.runtime.yolo import YoloDetector, load_detector

__all__ = [
    "Detections",
    "Detector",
    "InputSpec",
    "ModelCard",
    "YoloDetector",
    "decode_image",
    "load_card",
    "load_detector",
    "sha256_file",
    "write_card",
]
