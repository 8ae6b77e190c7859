"""Training throughput: the data loader alone, then whole training steps, with and without the image cache.

Side by side in one process on the same images: ms per image for the loader (decode + overlay +
augmentation) on a first pass and on a second pass (the cache's case), then images per second of
whole steps (loader, forward, loss, backward, AdamW, EMA) with the data read in the main process and
in one worker process. Medians over repeated runs of `--steps` steps; the model, config and window
are those of `--config`.

    python benchmarks/bench_train.py [--config configs/nano.yaml] [--images 320] [--steps 10]
        [--repeats 3] [--json OUT]
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
from nii.detector.config import load_config
from nii.detector.model import Detector
from nii.detector.train import EMA, loss_weights, model_spec, train_step


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
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cfg = load_config(Path(args.config))
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

    model = Detector(model_spec(cfg, len(data.class_names))).to(memory_format=torch.channels_last).train()
    ema = EMA(model, t_cfg.ema_decay)
    optimizer = torch.optim.AdamW(model.parameters(), lr=t_cfg.lr)
    weights = loss_weights(cfg)

    def images_per_s(source: DetectionDataset, workers: int) -> float:
        batches = DataLoader(source, batch_size=t_cfg.batch_size, shuffle=True, num_workers=workers,
                             collate_fn=collate, persistent_workers=workers > 0)
        rates = []
        for _ in range(args.repeats):
            it = iter(batches)
            next(it)  # worker start-up is not a step
            t = time.perf_counter()
            for batch in itertools.islice(it, args.steps):
                train_step(model, optimizer, ema, batch, weights, t_cfg.grad_clip)
            rates.append(args.steps * t_cfg.batch_size / (time.perf_counter() - t))
        return statistics.median(rates)

    steps = {"uncached_main_process": images_per_s(uncached, 0),
             "uncached_one_worker": images_per_s(uncached, 1),
             "cached_main_process": images_per_s(cached, 0)}
    result = {
        "config": args.config, "images": len(samples), "batch_size": t_cfg.batch_size,
        "crop_size": t_cfg.crop_size or t_cfg.input_size, "threads": t_cfg.threads,
        "loader": {k: round(v, 1) for k, v in loader.items()},
        "steps_images_per_s": {k: round(v, 2) for k, v in steps.items()},
        "cached_over_one_uncached_worker": round(
            steps["cached_main_process"] / steps["uncached_one_worker"], 2),
        "machine": platform.processor() or platform.machine(),
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
