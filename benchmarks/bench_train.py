"""Training throughput: the data loader alone, then whole training steps, with and without the image cache.

Side by side in one process on the same images: ms per image for the loader (decode + overlay +
augmentation) on a first pass and on a second pass (the cache's case), then images per second of
whole steps (loader, forward, loss, backward, AdamW, EMA) with the data read in the main process and
in one worker process; last, the cached main-process steps of a baseline recipe (`--baseline`, the
config changed by `;`-separated overrides; by default the depthwise-separable float32 model the
shipped weights had before the dense bfloat16 one). Medians over repeated runs of `--steps` steps;
the model, config and window are those of `--config`.

    python benchmarks/bench_train.py [--config configs/nano.yaml] [--images 320] [--steps 10]
        [--repeats 3] [--baseline OVERRIDES] [--json OUT]
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import statistics
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from nii.datasets import load_dataset
from nii.detector.augment import DetectionDataset, TrainTransform, collate
from nii.detector.config import Config, load_config
from nii.detector.model import Detector
from nii.detector.train import EMA, loss_weights, model_spec, native_bf16, train_step, training_forward

# The recipe of the weights shipped before the dense model (f00579d3fa44): depthwise-separable 5 x 5
# convs, wider, trained in float32.
DEPTHWISE_FP32 = ("model.block=dwsep;model.widths=[16,32,64,128,256];model.neck_channels=96;"
                  "train.bf16=false;train.compile=false")


def _loader_ms(dataset: DetectionDataset) -> float:
    t = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    return (time.perf_counter() - t) * 1000 / len(dataset)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/nano.yaml")
    ap.add_argument("--images", type=int, default=320, help="training images used (the first N)")
    ap.add_argument("--steps", type=int, default=10, help="steps per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline", default=DEPTHWISE_FP32, help="';'-separated config overrides ('' : none)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cfg = load_config(Path(args.config))
    base_cfg = load_config(Path(args.config), [o for o in args.baseline.split(";") if o.strip()])
    t_cfg = cfg.train
    torch.set_num_threads(t_cfg.threads)
    torch.manual_seed(0)
    data = load_dataset(Path(cfg.data.train))
    samples = data.samples[: args.images]

    def dataset(cache: bool) -> DetectionDataset:
        transform = TrainTransform(cfg.augment, t_cfg.input_size, t_cfg.crop_size)
        return DetectionDataset(samples, t_cfg.input_size, transform, cache=cache)

    uncached, cached = dataset(False), dataset(True)
    loader = {"uncached_ms_per_image": _loader_ms(uncached), "first_pass_ms_per_image": _loader_ms(cached),
              "cached_ms_per_image": _loader_ms(cached)}

    def images_per_s(recipe: Config, source: DetectionDataset, workers: int) -> float:
        model = Detector(model_spec(recipe, len(data.class_names)))
        model = model.to(memory_format=torch.channels_last).train()
        ema = EMA(model, recipe.train.ema_decay)
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.train.lr)
        weights = loss_weights(recipe)
        batches = DataLoader(source, batch_size=t_cfg.batch_size, shuffle=True, num_workers=workers,
                             collate_fn=collate, persistent_workers=workers > 0)
        forward = training_forward(model, recipe.train.compile)
        bf16 = native_bf16(recipe.train.bf16)  # as `nii train` runs it on this CPU

        def step(batch: dict[str, torch.Tensor]) -> None:
            train_step(model, optimizer, ema, batch, weights, recipe.train.grad_clip, bf16=bf16,
                       forward=forward)

        step(next(iter(batches)))  # untimed: torch.compile compiles here
        rates = []
        for _ in range(args.repeats):
            it = iter(batches)
            next(it)  # worker start-up is not a step
            t = time.perf_counter()
            for batch in itertools.islice(it, args.steps):
                step(batch)
            rates.append(args.steps * t_cfg.batch_size / (time.perf_counter() - t))
        return statistics.median(rates)

    steps = {"uncached_main_process": images_per_s(cfg, uncached, 0),
             "uncached_one_worker": images_per_s(cfg, uncached, 1),
             "cached_main_process": images_per_s(cfg, cached, 0),
             "baseline_cached_main_process": images_per_s(base_cfg, cached, 0)}
    result = {
        "config": args.config, "baseline": args.baseline, "images": len(samples),
        "batch_size": t_cfg.batch_size,
        "crop_size": t_cfg.crop_size or t_cfg.input_size, "threads": t_cfg.threads,
        "loader": {k: round(v, 1) for k, v in loader.items()},
        "steps_images_per_s": {k: round(v, 2) for k, v in steps.items()},
        "cached_over_one_uncached_worker": round(
            steps["cached_main_process"] / steps["uncached_one_worker"], 2),
        "cached_over_baseline_cached": round(
            steps["cached_main_process"] / steps["baseline_cached_main_process"], 2),
        "machine": platform.processor() or platform.machine(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
