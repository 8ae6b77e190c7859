"""Training loop: AdamW, warm-up + cosine schedule per step, EMA weights, checkpoints, CSV log + plot.

Run folder (``train.out``): ``last.pt`` (every epoch), ``best.pt`` (best validation mAP50-95, or the
last epoch without validation), ``log.csv`` (one row per epoch) and ``log.png``.
A time budget stops cleanly after the epoch that crosses it; after the first epoch the schedule is
shortened to the number of epochs the budget allows, so the cosine still ends near its minimum.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from nii.datasets import Dataset, load_dataset
from nii.detector.augment import DetectionDataset, TrainTransform, collate
from nii.detector.checkpoint import (
    load_checkpoint,
    load_matching_classes,
    save_checkpoint,
    spec_from_dict,
    spec_to_dict,
)
from nii.detector.config import Config
from nii.detector.loss import LossWeights, detection_loss
from nii.detector.model import Detector, ModelSpec, freeze_backbone
from nii.detector.validate import evaluate_map
from nii.errors import ConfigError, ModelError

log = logging.getLogger(__name__)

LOG_FIELDS = ("epoch", "loss", "cls", "box", "dfl", "lr", "map50", "map50_95", "seconds", "images_per_s")


@dataclass(frozen=True, slots=True)
class TrainResult:
    """What a finished run produced."""

    run_dir: Path
    epochs: int  # epochs finished (including resumed ones)
    best_map50_95: float | None  # best validation mAP50-95 (None without validation)
    last_metrics: dict[str, float]  # last validation {'map50', 'map50_95'}
    minutes: float  # training time over all sessions
    images_per_s: float  # training throughput of the last epoch


class EMA:
    """Exponential moving average of weights; decay ramps up as ``decay * (1 - exp(-updates / ramp))``."""

    def __init__(self, model: nn.Module, decay: float, updates: int = 0, ramp: int = 1000) -> None:
        self.module = copy.deepcopy(model).eval()
        self.decay, self.updates, self.ramp = decay, updates, ramp
        for p in self.module.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.ramp))
        pairs = list(zip(self.module.state_dict().values(), model.state_dict().values(), strict=True))
        floats = [(e, v) for e, v in pairs if e.dtype.is_floating_point]
        # One multi-tensor call for the ~300 tensors instead of two kernels each (~1% of a step).
        torch._foreach_lerp_([e for e, _ in floats], [v.detach() for _, v in floats], 1 - d)
        for e, v in pairs:
            if not e.dtype.is_floating_point:
                e.copy_(v)


def lr_at(step: int, total: int, warmup: int, peak: float, min_ratio: float,
          progress: float | None = None) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine from ``peak`` to ``peak * min_ratio`` at ``total``.

    ``progress`` (0-1, the share of a time budget spent) drives the cosine when it is ahead of the step
    count, so a time-budgeted run anneals fully however fast the (shared) machine turns out to be.
    """
    if step < warmup:
        return peak * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    t = min(1.0, max(t, progress or 0.0))
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay, no_decay = [], []
    for p in model.parameters():
        if not p.requires_grad:
            continue  # frozen (train.freeze)
        (decay if p.ndim > 1 else no_decay).append(p)  # no decay on norms and biases
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def model_spec(cfg: Config, num_classes: int) -> ModelSpec:
    return ModelSpec(num_classes=num_classes, widths=tuple(cfg.model.widths), depths=tuple(cfg.model.depths),
                     neck_channels=cfg.model.neck_channels, head_convs=cfg.model.head_convs,
                     block=cfg.model.block, box_bins=cfg.model.box_bins)


def loss_weights(cfg: Config) -> LossWeights:
    return LossWeights(cls=cfg.loss.cls_weight, box=cfg.loss.box_weight, topk=cfg.loss.topk,
                       radius=cfg.loss.radius, alpha=cfg.loss.alpha, beta=cfg.loss.beta,
                       dfl=cfg.loss.dfl_weight)


Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def training_forward(model: Detector, compile: bool) -> Forward:
    """``model.forward_raw``, compiled by torch.compile when asked; eager again if compiling fails.

    Inductor fuses the normalisation and activation passes that dominate a CPU training step. It needs a
    C++ compiler, and its failures come as many exception types, at the first call: any of them logs a
    warning and the run goes on eager, which raises again if the error was not the compiler's.
    """
    if not compile:
        return model.forward_raw
    log.info("train.compile: the first step compiles the forward and backward (about 1.5 min on 2 cores)")
    compiled = torch.compile(model.forward_raw)
    eager = False

    def forward(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        nonlocal eager
        if not eager:
            try:
                return compiled(images)
            except Exception as exc:  # see the docstring
                log.warning("torch.compile failed (%s: %s); training eager (set train.compile: false to skip "
                            "it)", type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "")
                eager = True
        return model.forward_raw(images)

    return forward


def native_bf16(requested: bool) -> bool:
    """Whether to run the training forward in bfloat16: asked for, and this CPU computes it natively.

    Without AVX512-BF16 or AMX, oneDNN emulates bfloat16: a step of the shipped model costs nine times its
    float32 step on an AVX2-only EPYC (6.3 against 0.67 s), so such a run trains in float32 instead."""
    if requested and not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()):
        log.warning("train.bf16: this CPU has no native bfloat16 (AVX512-BF16 or AMX); training in float32, "
                    "which is several times faster here")
        return False
    return requested


def train_step(model: Detector, optimizer: torch.optim.Optimizer, ema: EMA, batch: dict[str, torch.Tensor],
               weights: LossWeights, grad_clip: float, where: str = "", bf16: bool = False,
               forward: Forward | None = None) -> dict[str, torch.Tensor]:
    """Forward, loss, backward, clipped AdamW step and EMA update on one collated batch; the losses.

    ``bf16`` runs the forward under bfloat16 autocast; the loss is computed in float32. ``forward``
    replaces ``model.forward_raw`` (``training_forward``: compiled).
    Raises ModelError, naming ``where``, when the loss is not finite (nothing is updated then)."""
    images = batch["images"].contiguous(memory_format=torch.channels_last)
    with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=bf16):
        cls, box, points = (forward or model.forward_raw)(images)
    cls, box = cls.float(), box.float()
    losses = detection_loss(cls, box, points, batch["gt_xyxy"], batch["gt_labels"], batch["gt_mask"], weights)
    if not torch.isfinite(losses["loss"]):
        raise ModelError(f"training diverged{where} (loss {losses['loss'].item()}); lower train.lr")
    optimizer.zero_grad(set_to_none=True)
    losses["loss"].backward()
    nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    ema.update(model)
    return losses


def _load(path: str, split: str | None, class_map: str | None) -> Dataset:
    return load_dataset(Path(path), split=split, class_map=Path(class_map) if class_map else None)


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)


def write_plot(csv_path: Path, png_path: Path) -> None:
    """Plot losses and validation mAP per epoch from the CSV log (matplotlib Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(csv_path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("loss", "cls", "box", "dfl"):
        values = [float(r.get(key) or 0) for r in rows]
        if any(values):  # a run without distance bins logs dfl 0 (an older log has no dfl column)
            ax1.plot(epochs, values, label=key)
    ax1.set_xlabel("epoch")
    ax1.set_title("training loss")
    ax1.legend()
    for key in ("map50", "map50_95"):
        pts = [(e, float(r[key])) for e, r in zip(epochs, rows, strict=True) if r[key] != ""]
        if pts:
            ax2.plot(*zip(*pts, strict=True), marker="o", label=key)
    ax2.set_xlabel("epoch")
    ax2.set_title("validation mAP (EMA)")
    ax2.set_ylim(0, 1)
    if ax2.lines:
        ax2.legend()
    fig.tight_layout()
    fig.savefig(png_path, dpi=90)
    plt.close(fig)


def train(cfg: Config, *, resume: bool = False, init: Path | None = None,
          progress: bool = True) -> TrainResult:
    """Train a detector as ``cfg`` says; returns where the run went and how it scored.

    ``resume`` continues ``<train.out>/last.pt`` (model, EMA, optimizer, schedule, log);
    ``init`` starts from another checkpoint's weights (fine-tuning; classes matched by name).
    """
    t_cfg = cfg.train
    torch.set_num_threads(t_cfg.threads)
    torch.manual_seed(t_cfg.seed)
    run_dir = Path(t_cfg.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    last_path, best_path, csv_path = run_dir / "last.pt", run_dir / "best.pt", run_dir / "log.csv"

    train_set = _load(cfg.data.train, cfg.data.train_split, cfg.data.class_map)
    classes = list(train_set.class_names)
    if not train_set.samples:
        raise ConfigError(f"training dataset {cfg.data.train} has no images")
    val_samples: list = []
    if cfg.data.val:
        val_set = _load(cfg.data.val, cfg.data.val_split, cfg.data.class_map)
        if list(val_set.class_names) != classes:
            raise ConfigError("training and validation datasets have different class lists")
        rng = torch.Generator().manual_seed(12345)
        order = torch.randperm(len(val_set.samples), generator=rng)[: t_cfg.val_images].sort().values
        val_samples = [val_set.samples[i] for i in order.tolist()]

    # The architecture is the config's, except that a fine-tune keeps that of the weights it starts
    # from and a resumed run that of its own checkpoint.
    spec = model_spec(cfg, len(classes))
    state: dict[str, Any] | None = None
    start: dict[str, Any] | None = None
    if resume:
        state = load_checkpoint(last_path)
        if state["classes"] != classes:
            raise ModelError(f"cannot resume from {last_path}: it was trained on other classes "
                             f"({', '.join(state['classes'])}); resume with the data it was trained on")
        if state["spec"] != spec_to_dict(spec):
            log.warning("resuming with the architecture of %s; the config's model section differs", last_path)
        spec = spec_from_dict(state["spec"])
    elif init is not None:
        start = load_checkpoint(init)
        spec = dataclasses.replace(spec_from_dict(start["spec"]), num_classes=len(classes))
    model = Detector(spec)
    if state is not None:
        model.load_state_dict(state["model"])
    elif start is not None:
        new = load_matching_classes(model, start, classes)
        log.info("initialised from %s; classes new to it: %s", init, new or "none")
    model = model.to(memory_format=torch.channels_last).train()
    freeze_backbone(model, t_cfg.freeze)
    ema = EMA(model, t_cfg.ema_decay)
    # fused: one kernel for all parameters instead of a dozen passes over each (~1.5% of a step here).
    optimizer = torch.optim.AdamW(_param_groups(model, t_cfg.weight_decay), lr=t_cfg.lr, betas=(0.9, 0.999),
                                  fused=True)

    start_epoch, planned, elapsed, images_seen, best = 1, t_cfg.epochs, 0.0, 0, None
    last_metrics: dict[str, float] = {}
    if state is not None:
        ema.module.load_state_dict(state["ema"])
        ema.updates = state.get("ema_updates", 0)
        optimizer.load_state_dict(state["optimizer"])
        start_epoch, planned = state["epoch"] + 1, state["planned_epochs"]
        if t_cfg.epochs != state["config"]["train"]["epochs"]:
            planned = t_cfg.epochs  # resumed with another epoch count: extend (or cut) the schedule
        elapsed, images_seen, best = state["elapsed_s"], state["images_seen"], state.get("best_map")
        last_metrics = state.get("metrics") or {}
        log.info("resuming %s at epoch %d of %d", last_path, start_epoch, planned)
    elif csv_path.exists():
        csv_path.unlink()
    log_fields = LOG_FIELDS
    if csv_path.exists():  # a resumed run keeps its log's columns (an older log has no dfl)
        with open(csv_path, newline="") as fh:
            log_fields = tuple(next(csv.reader(fh), LOG_FIELDS))

    size = t_cfg.input_size
    dataset = DetectionDataset(train_set.samples, size, TrainTransform(cfg.augment, size, t_cfg.crop_size),
                               cache=t_cfg.cache_images)
    generator = torch.Generator()
    # Workers persist when they hold a cache, or each epoch would decode every image again.
    loader = DataLoader(dataset, batch_size=t_cfg.batch_size, shuffle=True,
                        drop_last=len(dataset) > t_cfg.batch_size,
                        num_workers=t_cfg.num_workers, collate_fn=collate, generator=generator,
                        worker_init_fn=_worker_init,
                        persistent_workers=t_cfg.cache_images and t_cfg.num_workers > 0)
    steps = len(loader)
    weights = loss_weights(cfg)
    forward = training_forward(model, t_cfg.compile)
    bf16 = native_bf16(t_cfg.bf16)
    warmup = max(1, round(t_cfg.warmup_epochs * steps))
    budget_s = t_cfg.time_budget_min * 60 if t_cfg.time_budget_min else None
    data_spec = {"train": cfg.data.train, "train_split": cfg.data.train_split, "val": cfg.data.val,
                 "val_split": cfg.data.val_split, "train_images": len(train_set.samples),
                 "val_images": len(val_samples)}
    ips = 0.0
    epoch = start_epoch - 1
    for epoch in range(start_epoch, planned + 1):
        generator.manual_seed(t_cfg.seed * 1000 + epoch)
        t0 = time.monotonic()
        sums = {"loss": 0.0, "cls": 0.0, "box": 0.0, "dfl": 0.0}
        bar = tqdm(loader, desc=f"epoch {epoch}/{planned}", disable=not progress, leave=False, unit="batch")
        done = 0
        for i, batch in enumerate(bar):
            used = elapsed + time.monotonic() - t0
            if budget_s is not None and used >= budget_s:
                break  # the budget ends mid-epoch: validate and save what there is
            step = (epoch - 1) * steps + i
            lr = lr_at(step, planned * steps, warmup, t_cfg.lr, t_cfg.min_lr_ratio,
                       used / budget_s if budget_s is not None else None)
            for group in optimizer.param_groups:
                group["lr"] = lr
            losses = train_step(model, optimizer, ema, batch, weights, t_cfg.grad_clip,
                                where=f" at epoch {epoch}, step {i}", bf16=bf16, forward=forward)
            images_seen += len(batch["images"])
            done += 1
            for k in sums:
                sums[k] += losses[k].item()
            bar.set_postfix(loss=f"{sums['loss'] / (i + 1):.3f}", lr=f"{lr:.2e}")
        bar.close()
        train_s = time.monotonic() - t0
        ips = done * t_cfg.batch_size / max(train_s, 1e-9)
        out_of_time = budget_s is not None and elapsed + train_s >= budget_s
        metrics: dict[str, float] = {}
        if val_samples and (epoch % t_cfg.eval_every == 0 or epoch == planned or out_of_time):
            metrics = evaluate_map(ema.module, val_samples, classes, t_cfg.input_size,
                                   batch_size=t_cfg.batch_size, score_threshold=t_cfg.score_threshold)
            last_metrics = metrics
        seconds = time.monotonic() - t0
        elapsed += seconds
        # Validation may spend the rest of the budget: stop here rather than log an empty epoch.
        out_of_time = out_of_time or (budget_s is not None and elapsed >= budget_s)
        row = {"epoch": epoch, **{k: round(v / max(done, 1), 5) for k, v in sums.items()}, "lr": f"{lr:.3e}",
               "map50": round(metrics["map50"], 4) if metrics else "",
               "map50_95": round(metrics["map50_95"], 4) if metrics else "", "seconds": round(seconds, 1),
               "images_per_s": round(ips, 2)}
        new_file = not csv_path.exists()
        with open(csv_path, "a", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=log_fields, extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        write_plot(csv_path, run_dir / "log.png")
        log.info("epoch %d/%d loss %.4f (cls %.4f box %.4f dfl %.4f) %s %.0f s, %.1f img/s", epoch, planned,
                 row["loss"], row["cls"], row["box"], row["dfl"], metrics or "", seconds, ips)

        improved = bool(metrics) and (best is None or metrics["map50_95"] > best)
        if improved:
            best = metrics["map50_95"]
        state = {"spec": spec_to_dict(spec), "classes": classes, "model": model.state_dict(),
                 "ema": ema.module.state_dict(), "ema_updates": ema.updates,
                 "optimizer": optimizer.state_dict(),
                 "epoch": epoch, "planned_epochs": epoch if out_of_time else planned, "config": cfg.to_dict(),
                 "metrics": last_metrics, "best_map": best, "elapsed_s": elapsed, "images_seen": images_seen,
                 "data": data_spec, "seed": t_cfg.seed, "device": "cpu", "bf16": bf16,
                 "input_size": t_cfg.input_size}
        save_checkpoint(state, last_path)
        if improved or not val_samples:
            save_checkpoint(state, best_path)
        if out_of_time:
            log.info("time budget of %.1f min reached after epoch %d", budget_s / 60, epoch)
            break
    return TrainResult(run_dir=run_dir, epochs=epoch, best_map50_95=best, last_metrics=last_metrics,
                       minutes=elapsed / 60, images_per_s=ips)
