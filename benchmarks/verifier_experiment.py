"""Experiment: a second-stage verifier that rescores the detector's candidates from native-resolution crops.

The shipped detector sees a scan letterboxed to 512 px (an 800 px scan at 0.64x); small objects such
as cartridges are a few feature cells. This script asks whether a small CNN that looks at each
candidate (score >= 0.2) at full resolution, with context, separates true objects from false alarms
better than the detector's own score, and whether that moves triage.

    python benchmarks/verifier_experiment.py dump --data data/synth_train --limit 2500 --out /tmp/v/train.npz
    python benchmarks/verifier_experiment.py dump --data data/synth_test --out /tmp/v/test.npz
    python benchmarks/verifier_experiment.py train --train /tmp/v/train.npz --test /tmp/v/test.npz \
        --out /tmp/v
    python benchmarks/verifier_experiment.py triage --weights /tmp/v/verifier.pt --val data/synth_val \
        --test data/synth_test4 --out /tmp/v

Prints JSON (and writes it under --out). Needs torch (the `train` extra); not part of serving.
Results (candidates of the weights then shipped, sha256 5a148a98d7c7):
benchmarks/results/verifier_experiment.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from scipy.stats import rankdata
from torch import nn

from nii.datasets import load_dataset
from nii.detector.evaluate import operating_points
from nii.runtime.detector import Detections, Detector
from nii.runtime.postprocess import batched_nms, box_iou
from nii.triage.evaluate import evaluate_triage, ground_truth
from nii.triage.pipeline import compare_settings
from nii.triage.policy import DEFAULT_POLICY_PATH, load_policy
from nii.triage.tune import collect, tune_floors, write_policy
from nii.types import CLASS_NAMES

CANDIDATE_MIN = 0.2  # detector score from which candidates are verified (--candidate-min)
CROP = 64  # verifier input side, pixels
CONTEXT = 2.0  # crop side = CONTEXT x the box's longer side (+ 8 px), native resolution
MODEL = Path("models/nii-nano.onnx")


def crops_of(rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """uint8 [N, CROP, CROP, 3]: a square around each box, CONTEXT times its longer side, white outside."""
    pad = cv2.copyMakeBorder(rgb, 256, 256, 256, 256, cv2.BORDER_CONSTANT, value=(255, 255, 255))
    out = []
    for x1, y1, x2, y2 in xyxy:
        side = min(max(x2 - x1, y2 - y1) * CONTEXT + 8, 500)
        left, top = int((x1 + x2 - side) / 2) + 256, int((y1 + y2 - side) / 2) + 256
        out.append(cv2.resize(pad[top:top + int(side), left:left + int(side)], (CROP, CROP),
                              interpolation=cv2.INTER_AREA))
    return np.stack(out) if out else np.zeros((0, CROP, CROP, 3), np.uint8)


def dump(args: argparse.Namespace) -> dict:
    """Candidates of the shipped model with their crops and labels: true (IoU >= 0.5 with a same-class
    object) and partial (centre inside one, IoU below 0.5: left out of training and scoring)."""
    detector = Detector(MODEL, threads=2, score_threshold=args.candidate_min)
    truth = ground_truth(args.data)
    rows: dict[str, list] = {"crops": [], "cls": [], "score": [], "true": [], "partial": []}
    for name in sorted(truth)[:args.limit]:
        rgb = cv2.imread(str(args.data / "images" / name))[:, :, ::-1].copy()
        found, gt = detector.detect(rgb), truth[name]
        rows["crops"].append(crops_of(rgb, found.xyxy))
        for box, score, c in zip(found.xyxy, found.scores, found.class_ids, strict=True):
            same = gt.xyxy[gt.class_ids == c]
            cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            true = bool(len(same) and box_iou(box, same).max() >= 0.5)
            inside = bool(len(same) and ((same[:, 0] <= cx) & (cx <= same[:, 2])
                                         & (same[:, 1] <= cy) & (cy <= same[:, 3])).any())
            rows["cls"].append(int(c))
            rows["score"].append(float(score))
            rows["true"].append(true)
            rows["partial"].append(inside and not true)
    np.savez_compressed(args.out, crops=np.concatenate(rows["crops"]), cls=np.array(rows["cls"]),
                        score=np.array(rows["score"], np.float32), true=np.array(rows["true"]),
                        partial=np.array(rows["partial"]))
    return {"data": str(args.data), "candidates": len(rows["cls"]), "true": int(np.sum(rows["true"]))}


class Verifier(nn.Module):
    """Four stride-2 conv blocks on the crop, plus a class embedding and the detector's logit."""

    def __init__(self) -> None:
        super().__init__()

        def block(c_in: int, c_out: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU(),
                nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out), nn.SiLU())

        self.features = nn.Sequential(block(3, 24), block(24, 48), block(48, 96), block(96, 128),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.embed = nn.Embedding(len(CLASS_NAMES), 32)
        self.head = nn.Sequential(nn.Linear(128 + 32 + 1, 96), nn.SiLU(), nn.Linear(96, len(CLASS_NAMES)))

    def forward(self, crops: torch.Tensor, cls: torch.Tensor, logit: torch.Tensor) -> torch.Tensor:
        h = torch.cat((self.features(crops), self.embed(cls), logit[:, None]), 1)
        return self.head(h).gather(1, cls[:, None])[:, 0]  # one output per class, the candidate's


def as_tensors(crops: np.ndarray, cls: np.ndarray, score: np.ndarray) -> tuple[torch.Tensor, ...]:
    return (torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255.0, torch.from_numpy(cls).long(),
            torch.logit(torch.from_numpy(score).clamp(1e-4, 1 - 1e-4)))


def predict(net: Verifier, crops: np.ndarray, cls: np.ndarray, score: np.ndarray) -> np.ndarray:
    x, c, s = as_tensors(crops, cls, score)
    with torch.no_grad():
        return torch.cat([torch.sigmoid(net(x[i:i + 1024], c[i:i + 1024], s[i:i + 1024]))
                          for i in range(0, len(c), 1024)]).numpy() if len(c) else np.zeros(0, np.float32)


def _load(path: Path) -> tuple[np.ndarray, ...]:
    d = np.load(path)
    keep = ~d["partial"]
    return d["crops"][keep], d["cls"][keep], d["score"][keep], d["true"][keep]


def auc(y: np.ndarray, s: np.ndarray) -> float:
    ranks = rankdata(s)
    n1, n0 = int(y.sum()), int((~y).sum())
    return round(float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)), 3) if n1 and n0 else float("nan")


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    crops, cls, score, true = _load(args.train)
    keep = true | (np.random.default_rng(0).random(len(true)) < args.negatives)  # share of false ones kept
    crops, cls, score, true = crops[keep], cls[keep], score[keep], true[keep]
    x, c, s = as_tensors(crops, cls, score)
    y = torch.from_numpy(true).float()
    net = Verifier()
    opt = torch.optim.AdamW(net.parameters(), 2e-3, weight_decay=1e-4)
    steps, step, start = args.epochs * (len(y) // 256), 0, time.perf_counter()
    for _ in range(args.epochs):
        net.train()
        perm = torch.randperm(len(y))
        for i in range(0, len(y) - 255, 256):
            idx = perm[i:i + 256]
            xb = x[idx]
            if torch.rand(1) < 0.5:  # flips and transposes: a scan has no orientation
                xb = xb.flip(3)
            if torch.rand(1) < 0.5:
                xb = xb.flip(2)
            if torch.rand(1) < 0.5:
                xb = xb.transpose(2, 3)
            for group in opt.param_groups:
                group["lr"] = 2e-3 * 0.5 * (1 + np.cos(np.pi * step / steps))
            loss = nn.functional.binary_cross_entropy_with_logits(net(xb, c[idx], s[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
    net.eval()
    torch.save(net.state_dict(), args.out / "verifier.pt")
    crops, cls, score, true = _load(args.test)
    p = predict(net, crops, cls, score)
    report = {"train_candidates": len(y), "train_s": round(time.perf_counter() - start),
              "test_candidates": len(true), "test_true": int(true.sum()),
              "auc_detector": auc(true, score), "auc_verifier": auc(true, p), "per_class": {}}
    for k, name in enumerate(CLASS_NAMES):
        m = cls == k
        yk, sk, pk = true[m], score[m], p[m]
        n_true = int((yk & (sk >= 0.3)).sum())
        order = np.argsort(-pk)
        j = int(np.searchsorted(np.cumsum(yk[order]), n_true))
        report["per_class"][name] = {  # false alarms the verifier keeps for the detector's true ones at 0.3
            "auc_detector": auc(yk, sk), "auc_verifier": auc(yk, pk), "true_at_0.3": n_true,
            "false_at_0.3": int((~yk & (sk >= 0.3)).sum()),
            "verifier_false_same_true": int((~yk[order[:j + 1]]).sum()) if n_true else 0}
    return report


class VerifiedDetector:
    """The shipped detector, its candidates rescored by the verifier (then class-wise NMS)."""

    def __init__(self, net: Verifier, thresholds: dict[str, float], recall: dict[str, float],
                 verified: tuple[str, ...] = CLASS_NAMES, candidate_min: float = CANDIDATE_MIN) -> None:
        self.base = Detector(MODEL, threads=2)
        self.candidate_min = candidate_min
        self.net, self.thresholds, self.recall = net, thresholds, recall
        self.verified = np.array([c in verified for c in CLASS_NAMES])  # the others keep the model's score
        self.look_alikes, self.classes = self.base.look_alikes, CLASS_NAMES
        self.sha256 = "verified-" + self.base.sha256[:12]
        self.card_sha256 = self.base.card_sha256

    def candidates(self, rgb: np.ndarray) -> Detections:
        d = self.base.detect(rgb, score_threshold=self.candidate_min)
        if not len(d):
            return d
        p = predict(self.net, crops_of(rgb, d.xyxy), d.class_ids, d.scores).astype(np.float32)
        p = np.where(self.verified[d.class_ids], p, d.scores)
        keep = np.sort(batched_nms(d.xyxy, p, d.class_ids, 0.5))
        return Detections(d.xyxy[keep], p[keep], d.class_ids[keep], d.classes)

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               flips: tuple[str, ...] = ()) -> Detections:
        d = self.candidates(image)
        floor = np.array([self.thresholds[c] if score_threshold is None else score_threshold
                          for c in CLASS_NAMES], np.float32)
        keep = d.scores >= floor[d.class_ids]
        return Detections(d.xyxy[keep], d.scores[keep], d.class_ids[keep], d.classes)


def choose_thresholds(detector: VerifiedDetector, data: Path) -> tuple[dict[str, float], dict[str, float]]:
    """Per class the verified score of best F1 (IoU 0.5) and its recall, as `nii export --val-data`
    chooses them for the model card."""
    dataset = load_dataset(data, class_names=CLASS_NAMES)
    predictions = [detector.candidates(cv2.imread(str(sample.image_path))[:, :, ::-1].copy())
                   for sample in dataset.samples]
    points = operating_points(dataset, predictions)
    return ({name: thr for name, (thr, _) in points.items()},
            {name: round(r, 4) for name, (_, r) in points.items() if r is not None})


def triage(args: argparse.Namespace) -> dict:
    net = Verifier()
    net.load_state_dict(torch.load(args.weights))
    net.eval()
    detector = VerifiedDetector(net, {}, {}, tuple(args.classes or CLASS_NAMES), args.candidate_min)
    detector.thresholds, detector.recall = choose_thresholds(detector, args.val)
    for c in set(CLASS_NAMES) - set(args.classes or CLASS_NAMES):  # unverified: the model card's
        detector.thresholds[c], detector.recall[c] = detector.base.thresholds[c], detector.base.recall[c]
    shares = ("prohibited_stopped", "misdeclared_flagged", "compliant_released")
    policy = load_policy()
    out = {"thresholds": {k: round(v, 3) for k, v in detector.thresholds.items()}}
    report = evaluate_triage(args.test, detector, policy=policy).to_json()
    out["default_policy"] = {k: report[k] for k in (*shares, "per_label")}
    policy = dataclasses.replace(policy, comparison=compare_settings(policy, detector))
    parcels = collect(args.val, detector, policy)
    for tag, target in (("tuned", None), ("strict", 0.99)):
        tuned = tune_floors(parcels, policy, list(CLASS_NAMES), thresholds=detector.thresholds,
                            min_prohibited=target)
        path = args.out / f"policy-verified-{tag}.yaml"
        write_policy(DEFAULT_POLICY_PATH, tuned.policy, f"verified-{tag}", path, "verifier experiment")
        report = evaluate_triage(args.test, detector, policy=load_policy(path)).to_json()
        out[f"{tag}_policy"] = {k: report[k] for k in shares}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dump", help="candidates, crops and labels of a nii synth folder")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--candidate-min", type=float, default=CANDIDATE_MIN)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("train", help="train the verifier, score it against the detector on --test")
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--negatives", type=float, default=1.0, help="share of false candidates trained on")
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("triage", help="eval-triage with verified detections (default, tuned, strict floors)")
    p.add_argument("--weights", type=Path, required=True)
    p.add_argument("--classes", nargs="*", default=None, help="verify only these classes (default: all)")
    p.add_argument("--candidate-min", type=float, default=CANDIDATE_MIN)
    p.add_argument("--val", type=Path, required=True)
    p.add_argument("--test", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.command != "dump":
        args.out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    result = {"dump": dump, "train": train, "triage": triage}[args.command](args)
    text = json.dumps(result, indent=1)
    if args.command != "dump":
        (args.out / f"{args.command}.json").write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
