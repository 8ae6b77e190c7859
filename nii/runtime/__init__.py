"""Serving-side inference on ONNX Runtime. Never imports torch.

`card`: the model card (the ONNX contract); `preprocess`: decoding and letterboxing;
`postprocess`: thresholds and NMS in numpy; `detector`: `Detector` and `Detections`.
"""

from nii.runtime.card import InputSpec, ModelCard, load_card, sha256_file, write_card
from nii.runtime.detector import Detections, Detector
from nii.runtime.preprocess import decode_image

__all__ = [
    "Detections",
    "Detector",
    "InputSpec",
    "ModelCard",
    "decode_image",
    "load_card",
    "sha256_file",
    "write_card",
]
