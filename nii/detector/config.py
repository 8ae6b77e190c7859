"""Typed training config, read from YAML (``configs/*.yaml``); an unknown key is a ``ConfigError``.

The YAML has one mapping per section (``data``, ``model``, ``augment``, ``loss``, ``train``); every
field below carries its meaning and unit. ``--set section.key=value`` overrides one field.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nii.detector.model import BLOCKS
from nii.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DataConfig:
    """Where the images come from (any folder ``nii.datasets.load_dataset`` reads)."""

    train: str = "data/synth_train"  # training dataset folder
    val: str | None = "data/synth_val"  # validation dataset folder (None: no validation)
    train_split: str | None = None  # split of the training folder (e.g. "train"; None: whole folder)
    val_split: str | None = None  # split of the validation folder (e.g. "val")
    class_map: str | None = None  # yaml/json file: source class name -> taxonomy name


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """Architecture (see ``nii.detector.model``)."""

    widths: tuple[int, ...] = (16, 32, 64, 128, 256)  # backbone channels at strides 2, 4, 8, 16, 32
    depths: tuple[int, ...] = (1, 2, 2, 1)  # CSP bottlenecks at strides 4, 8, 16, 32
    neck_channels: int = 96  # channels of each PAN output level
    head_convs: int = 2  # spatial convs per head branch
    block: str = "dwsep"  # spatial convs: dwsep (depthwise k x k + 1 x 1) or dense (plain 3 x 3)
    box_bins: int = 0  # 0: YOLOX box coding; n >= 2: each side's distance over 0..n-1 strides (DFL)


@dataclass(frozen=True, slots=True)
class AugmentConfig:
    """Training augmentation strengths (probabilities in [0, 1])."""

    hflip: float = 0.5  # probability of a horizontal flip
    vflip: float = 0.5  # probability of a vertical flip
    rot90: float = 0.5  # probability of a 90-degree rotation (either direction)
    scale_prob: float = 0.5  # probability of random scale + placement instead of the plain letterbox
    scale_min: float = 0.6  # smallest scale factor relative to the letterbox fit
    scale_max: float = 1.4  # largest scale factor (above 1: cropped; boxes kept if >= 40% visible)
    hue: float = 0.08  # max hue shift, fraction of the colour wheel (scanner palettes differ)
    saturation: float = 0.4  # max relative saturation change
    brightness: float = 0.25  # max relative change of darkness (255 - pixel); white stays white
    contrast: float = 0.25  # max deviation of the darkness gamma from 1 (contrast); white stays white
    channel_permute: float = 0.2  # probability of permuting the RGB channels (palette change)
    noise_sigma: float = 0.02  # max std of additive Gaussian noise, in [0, 1] pixel units
    noise_prob: float = 0.3  # probability of adding noise
    blur_prob: float = 0.2  # probability of a Gaussian blur (sigma 0.1-1.2 px)
    overlay_prob: float = 0.0  # probability of overlaying objects seen in earlier images (X-ray overlay)
    overlay_max: int = 3  # at most this many overlaid objects per image
    parcel_overlay_prob: float = 0.0  # probability of multiplying another whole training parcel on


@dataclass(frozen=True, slots=True)
class LossConfig:
    """Assignment and loss weights (see ``nii.detector.loss``)."""

    cls_weight: float = 1.0  # weight of the classification-quality BCE loss
    box_weight: float = 2.5  # weight of the complete-IoU box loss
    topk: int = 10  # positive points per ground-truth box
    radius: float = 2.5  # centre-sampling radius, strides
    alpha: float = 1.0  # exponent of the class score in the alignment metric
    beta: float = 6.0  # exponent of the IoU in the alignment metric
    dfl_weight: float = 0.5  # weight of the distribution focal loss (only with model.box_bins >= 2)


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Optimisation, schedule, bookkeeping."""

    input_size: int = 384  # square network input S, pixels (letterboxed): the size validated and exported
    crop_size: int | None = None  # square window trained on, cut at the input_size scale, pixels (None: S)
    batch_size: int = 16  # images per step
    epochs: int = 40  # epochs of the cosine schedule (with a time budget: at most; cosine follows the clock)
    lr: float = 0.004  # peak AdamW learning rate
    weight_decay: float = 0.05  # AdamW decoupled weight decay (not applied to norms and biases)
    warmup_epochs: float = 1.0  # linear warm-up length, epochs
    min_lr_ratio: float = 0.05  # final learning rate as a fraction of the peak
    ema_decay: float = 0.999  # EMA decay per step (ramped up over the first ~1000 steps)
    grad_clip: float = 10.0  # max gradient norm
    freeze: int = 0  # leading backbone parts kept fixed: 0 none, 1 the stem, 2 also the stride-4 stage ... 5
    bf16: bool = False  # bfloat16 forward autocast (CPU AMX; float32 without native bf16); weights float32
    compile: bool = False  # torch.compile the training forward (inductor; needs a C++ compiler; ~1.5 min)
    num_workers: int = 0  # data-loader worker processes (0: the main process; fastest on 2 cores)
    cache_images: bool = True  # keep decoded training images in RAM at the served scale (~0.6 MB each)
    threads: int = 2  # torch intra-op threads
    seed: int = 0  # seed for weights, sampling and augmentation
    time_budget_min: float | None = None  # stop (validate, save) when this many minutes are spent (None: off)
    eval_every: int = 1  # validate every this many epochs (and at the end)
    val_images: int = 300  # validate on at most this many images (a fixed subset)
    score_threshold: float = 0.01  # minimum score kept for validation mAP
    out: str = "runs/nano"  # run folder: checkpoints, CSV log, plot


@dataclass(frozen=True, slots=True)
class Config:
    """The whole training config."""

    name: str = "nano"  # run / model name
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists), as saved in checkpoints and the model card."""
        return _plain(dataclasses.asdict(self))


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check / convert one YAML value against a type hint."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        hint = next(a for a in args if a is not type(None))
        origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        item = typing.get_args(hint)[0]
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if hint is bool and isinstance(value, bool):
        return value
    if hint is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _build(cls: type, data: Any, where: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"{where or 'config'}: unknown key(s) {unknown}; known: {sorted(names)}")
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}".lstrip(".")) for k, v in data.items()})


def config_from_dict(data: dict[str, Any]) -> Config:
    """Build and validate a ``Config`` from a nested mapping."""
    cfg = _build(Config, data, "")
    t = cfg.train
    if t.input_size % 32 or t.input_size < 64:
        raise ConfigError(f"train.input_size must be a multiple of 32 and >= 64, got {t.input_size}")
    if t.crop_size is not None and (t.crop_size % 32 or not 64 <= t.crop_size <= t.input_size):
        raise ConfigError(f"train.crop_size must be a multiple of 32 in [64, train.input_size], "
                          f"got {t.crop_size}")
    if t.batch_size < 1 or t.epochs < 1 or t.eval_every < 1:
        raise ConfigError("train.batch_size, train.epochs and train.eval_every must be >= 1")
    if not 0 <= t.freeze <= 5:
        raise ConfigError(f"train.freeze must be in [0, 5] (backbone parts: stem, strides 4-32), "
                          f"got {t.freeze}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    if not 0 < cfg.augment.scale_min <= cfg.augment.scale_max:
        raise ConfigError("augment.scale_min must be > 0 and <= augment.scale_max")
    if len(cfg.model.widths) != 5 or len(cfg.model.depths) != 4:
        raise ConfigError("model.widths needs 5 entries and model.depths 4")
    if cfg.model.box_bins == 1 or not 0 <= cfg.model.box_bins <= 64:
        raise ConfigError(f"model.box_bins must be 0 (YOLOX coding) or in [2, 64], got {cfg.model.box_bins}")
    if cfg.model.block not in BLOCKS:
        raise ConfigError(f"model.block must be one of {', '.join(BLOCKS)}, got {cfg.model.block!r}")
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """'train.epochs=10' -> (['train', 'epochs'], 10) (the value is parsed as YAML)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set expects section.key=value, got {text!r}")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {text!r}: value is not valid YAML ({exc})") from exc
    return key.strip().split("."), value


def load_config(path: Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config (None: defaults) and apply ``section.key=value`` overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise ConfigError(f"config file {path} not found") from exc
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config {path} must be a mapping of sections, got {type(data).__name__}")
    for text in overrides:
        keys, value = parse_override(text)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {text!r}: {k} is not a section")
        node[keys[-1]] = value
    try:
        return config_from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path or 'config'}: {exc}") from exc
