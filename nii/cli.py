"""The `nii` command line. The only module that prints and configures logging.

Each subcommand is an `_add_<name>` function that declares its options and sets `func` to a
`_run_<name>` function. Library errors (`NiiError`) become a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from nii import __version__
from nii.errors import NiiError, UsageError

log = logging.getLogger("nii")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _flips(text: str) -> tuple[str, ...]:
    from nii.runtime.flips import check_flips

    try:
        return check_flips(tuple(text))
    except NiiError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"seed must be in [0, 2**63), got {value}")
    return value


def _size(text: str) -> tuple[int, int]:
    """Parse 'WxH' (pixels)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected WIDTHxHEIGHT in pixels, e.g. 800x600, got {text!r}"
        ) from None
    if not (128 <= w <= 8192 and 128 <= h <= 8192):
        raise argparse.ArgumentTypeError(f"each side must be within 128..8192 pixels, got {w}x{h}")
    return w, h


# --- nii synth -----------------------------------------------------------------------------------


def _add_synth(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "synth",
        help="generate synthetic dual-energy parcel scans with declarations (COCO dataset)",
        description="Generate physics-based synthetic X-ray parcel scans with CN23-style declarations. "
        "Writes DIR/annotations.json (COCO), DIR/images/*.png (false colour), DIR/raw/*.png "
        "(16-bit high and low energy) and DIR/declarations.jsonl.",
    )
    p.add_argument("--count", type=_positive_int, required=True, help="number of parcels")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (same seed, same bytes)")
    p.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty or new)")
    p.add_argument("--size", type=_size, default=(800, 600), help="nominal scan size WxH (default 800x600)")
    p.add_argument("--workers", type=_positive_int, default=1, help="worker processes (default 1)")
    p.add_argument("--no-raw", action="store_true", help="skip the 16-bit raw channels")
    p.add_argument(
        "--threats",
        type=float,
        default=0.85,
        help="share of parcels holding at least one detector-class object (default 0.85)",
    )
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> None:
    from nii.synth.dataset import SynthSpec, write_dataset

    spec = SynthSpec(
        count=args.count,
        seed=args.seed,
        width=args.size[0],
        height=args.size[1],
        write_raw=not args.no_raw,
        threat_share=args.threats,
    )
    summary = write_dataset(spec, args.out, workers=args.workers, progress=True)
    print(
        f"wrote {summary.images} parcels, {summary.boxes} boxes to {args.out} "
        f"({summary.seconds:.1f} s, {summary.images / max(summary.seconds, 1e-9):.1f} parcels/s)"
    )


# --- nii eval ------------------------------------------------------------------------------------


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate an exported ONNX model on a COCO / YOLO / VOC dataset (mAP, Pd, Pfa)",
        description="Run an exported model through ONNX Runtime (the serving path) on a labelled dataset: "
        "COCO mAP50-95, mAP50 and per-class AP, plus scan-level probability of detection and false alarm "
        "per class at the model card's thresholds with 95% Wilson intervals.",
    )
    p.add_argument("--model", type=Path, required=True, help="model.onnx (its model.json card beside it)")
    p.add_argument("--data", type=Path, required=True, help="dataset folder (COCO, YOLO or Pascal VOC)")
    p.add_argument(
        "--split", default="test", help="split to read (default test; ignored by datasets without splits)"
    )
    p.add_argument(
        "--class-map",
        type=Path,
        default=None,
        help="yaml/json file: source class name -> taxonomy class name or null",
    )
    p.add_argument("--json", type=Path, default=None, help="write the full report as JSON here")
    p.add_argument("--plots", type=Path, default=None, help="folder for pr_curves.png (and eval.json)")
    p.add_argument("--limit", type=_positive_int, default=None, help="evaluate only the first N images")
    p.add_argument("--threads", type=_positive_int, default=None, help="ONNX Runtime threads (default: all)")
    p.add_argument(
        "--record",
        metavar="NAME",
        default=None,
        help="also record mAP50, mAP50-95 and per-class AP50 in the model card's metrics under NAME",
    )
    p.add_argument(
        "--flips", type=_flips, default=(), metavar="h|v|hv",
        help="test-time flips: also detect on the scan mirrored left-right (h) and/or top-bottom (v) "
        "and fuse the views (what a policy's detection.flips does)",
    )
    p.set_defaults(func=_run_eval)


def _ci(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:.2f}-{ci[1]:.2f}]"


def _run_eval(args: argparse.Namespace) -> None:
    from nii.detector.evaluate import evaluate, write_report_json

    report = evaluate(
        args.model,
        args.data,
        split=args.split,
        class_map=args.class_map,
        out_dir=args.plots,
        limit=args.limit,
        progress=True,
        threads=args.threads,
        flips=args.flips,
    )
    if args.json is not None:
        write_report_json(report, args.json)
    if args.record:
        from nii.runtime.card import load_card, write_card

        card = load_card(args.model)
        summary = {
            "data": report.data,
            "split": report.split,
            "images": report.images,
            "boxes": report.boxes,
            "map50": round(report.map50, 4),
            "map50_95": round(report.map50_95, 4),
            "ap50": {n: round(m.ap50, 4) for n, m in report.per_class.items() if m.ap50 is not None},
            **({"flips": "".join(report.flips)} if report.flips else {}),
        }
        write_card(card.model_copy(update={"metrics": {**card.metrics, args.record: summary}}), args.model)
    print(
        f"{report.images} images, {report.boxes} boxes ({report.data}, split {report.split or '-'}), "
        f"{report.ms_per_image:.1f} ms/image on {report.provider}"
        + (f", flips {''.join(report.flips)}" if report.flips else "")
    )
    print(f"mAP50 {report.map50:.3f}   mAP50-95 {report.map50_95:.3f}")
    print(
        f"{'class':<12}{'boxes':>6}{'AP50':>7}{'AP':>7}{'thr':>6}  {'Pd':>5} {'95% CI':<12}"
        f"{'Pfa':>5} {'95% CI':<12}"
    )
    for name, m in report.per_class.items():
        if m.boxes == 0 and m.false_alarm_images == 0:
            continue
        ap50 = "-" if m.ap50 is None else f"{m.ap50:.3f}"
        ap = "-" if m.ap50_95 is None else f"{m.ap50_95:.3f}"
        pd = "-" if m.pd is None else f"{m.pd:.2f}"
        pfa = "-" if m.pfa is None else f"{m.pfa:.2f}"
        print(
            f"{name:<12}{m.boxes:>6}{ap50:>7}{ap:>7}{m.threshold:>6.2f}  {pd:>5} {_ci(m.pd_ci):<12}"
            f"{pfa:>5} {_ci(m.pfa_ci):<12}"
        )


# --- nii train -----------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="train the detector from a YAML config (checkpoints, CSV log, plot in the run folder)",
        description="Train the detector. Writes RUN/last.pt, RUN/best.pt, RUN/log.csv and RUN/log.png.",
    )
    p.add_argument("--config", type=Path, required=True, help="training config, e.g. configs/nano.yaml")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set train.epochs=10 (repeatable)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        metavar="MIN",
        help="stop after the epoch that crosses MIN minutes (the schedule adapts)",
    )
    p.add_argument("--resume", action="store_true", help="continue RUN/last.pt")
    p.add_argument("--data", type=str, default=None, help="training dataset folder (overrides data.train)")
    p.add_argument(
        "--val-data", type=str, default=None, help="validation dataset folder (overrides data.val)"
    )
    p.add_argument(
        "--init", type=Path, default=None, help="start from this checkpoint's weights (fine-tuning)"
    )
    p.add_argument("--out", type=str, default=None, help="run folder (overrides train.out)")
    p.set_defaults(func=_run_train)


def _run_train(args: argparse.Namespace) -> None:
    from nii.detector.config import load_config
    from nii.detector.train import train

    overrides = list(args.overrides)
    for key, value in (
        ("data.train", args.data),
        ("data.val", args.val_data),
        ("train.out", args.out),
        ("train.time_budget_min", args.time_budget),
    ):
        if value is not None:
            overrides.append(f"{key}={value}")
    if args.resume and args.init is not None:
        raise UsageError("--resume and --init exclude each other")
    result = train(load_config(args.config, overrides), resume=args.resume, init=args.init, progress=True)
    best = "n/a" if result.best_map50_95 is None else f"{result.best_map50_95:.4f}"
    print(
        f"trained {result.epochs} epochs in {result.minutes:.1f} min ({result.images_per_s:.1f} img/s); "
        f"best val mAP50-95 {best}, last {result.last_metrics or 'n/a'}; run folder {result.run_dir}"
    )


# --- nii export ----------------------------------------------------------------------------------


def _add_export(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX with its model card (NAME.onnx + NAME.json)",
        description="Export EMA weights (BatchNorm folded) to ONNX opset 17, dynamic batch and input "
        "size, and write the card.",
    )
    p.add_argument("--checkpoint", type=Path, required=True, help="checkpoint, e.g. runs/nano/best.pt")
    p.add_argument("--out", type=Path, required=True, help="output .onnx path; the card goes beside it")
    p.add_argument(
        "--thresholds",
        type=Path,
        default=None,
        help="JSON {class: score threshold} chosen on validation data (default 0.3 each)",
    )
    p.add_argument(
        "--input-size", type=_positive_int, default=None, help="input side S (default: training size)"
    )
    p.add_argument("--name", default=None, help="model name in the card (default: file stem)")
    p.add_argument(
        "--look", action="append", default=[], metavar="SIZE:CLASS[,CLASS]",
        help="a second look at input size SIZE whose detections of these classes replace the main "
        "pass's (small objects seen closer), e.g. 704:bullet; repeatable",
    )
    p.add_argument(
        "--no-weights", action="store_true", help="skip NAME.pt (EMA weights alone, for `nii train --init`)"
    )
    p.add_argument(
        "--val-data",
        type=Path,
        default=None,
        help="choose per-class thresholds on this dataset (max F1 at IoU 0.5) instead of --thresholds, "
        "and record the recall and the look-alikes (which classes its wrong detections were) in the card",
    )
    p.add_argument("--val-split", default=None, help="split of --val-data (default: whole folder)")
    p.set_defaults(func=_run_export)


def _run_export(args: argparse.Namespace) -> None:
    import json

    from nii.detector.export import export

    if args.val_data is not None and args.thresholds is not None:
        raise UsageError("--thresholds and --val-data exclude each other")
    thresholds = None
    if args.thresholds is not None:
        try:
            thresholds = json.loads(args.thresholds.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read thresholds {args.thresholds}: {exc}") from exc
        if isinstance(thresholds, dict) and isinstance(thresholds.get("thresholds"), dict):
            thresholds = thresholds["thresholds"]  # accept a file holding a card-like mapping too
        if not isinstance(thresholds, dict):
            raise UsageError(f"{args.thresholds} must hold a JSON object of class name -> threshold")
    looks: dict[int, list[str]] = {}
    for text in args.look:
        size, _, names = text.partition(":")
        if not size.strip().isdigit() or not names.strip():
            raise UsageError(f"--look {text!r}: expected SIZE:CLASS[,CLASS], e.g. 704:bullet")
        looks.setdefault(int(size), []).extend(n.strip() for n in names.split(",") if n.strip())
    card = export(
        args.checkpoint,
        args.out,
        thresholds=thresholds,
        input_size=args.input_size,
        name=args.name,
        weights=not args.no_weights,
        looks=looks,
    )
    if args.val_data is not None:
        from nii.detector.evaluate import choose_thresholds
        from nii.runtime.card import write_card

        points = choose_thresholds(args.out, args.val_data, split=args.val_split, progress=True)
        card = card.model_copy(update={"thresholds": points.thresholds, "recall": points.recall,
                                       "look_alikes": points.look_alikes})
        write_card(card, args.out)  # the ONNX file (and its sha256) is unchanged
        print("thresholds " + ", ".join(f"{k} {v:.2f}" for k, v in points.thresholds.items()))
        print("recall there " + ", ".join(f"{k} {v:.2f}" for k, v in points.recall.items()))
        print("look-alikes " + ", ".join(f"{a}->{b} {v:.2f}" for a, row in points.look_alikes.items()
                                          for b, v in row.items()))
    second = "".join(f", {look.size} px for {'/'.join(look.classes)}" for look in card.looks)
    print(
        f"wrote {args.out} and its card (input {card.input.size}{second}, {len(card.classes)} classes, "
        f"sha256 {card.onnx_sha256[:12]})"
    )


def _add_adapt(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adapt",
        help="adapt an exported model to another scanner with its unlabelled scans (BatchNorm statistics)",
        description="Measure every BatchNorm layer's mean and variance again on the site's own scans, "
        "augmented as the model's training images were (no labels, no training: AdaBN), and export the "
        "result with the source card's thresholds and looks. Needs the weights NAME.pt that `nii export` "
        "writes beside NAME.onnx.",
    )
    p.add_argument(
        "--model", type=Path, required=True, help="exported float model .onnx (card and .pt beside it)"
    )
    p.add_argument(
        "--images", type=Path, required=True,
        help="folder of the scanner's scans (PNG/JPEG/BMP/TIFF, searched recursively); no labels needed",
    )
    p.add_argument("--out", type=Path, required=True, help="output .onnx path; card and weights go beside it")
    p.add_argument(
        "--samples", type=_positive_int, default=500, help="scans used, spread over the folder (default 500)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the augmentation the scans pass through")
    p.add_argument("--name", default=None, help="model name in the card (default: file stem)")
    p.set_defaults(func=_run_adapt)


def _run_adapt(args: argparse.Namespace) -> None:
    from nii.detector.adapt import adapt

    card = adapt(args.model, args.images, args.out, samples=args.samples, name=args.name, seed=args.seed)
    record = card.training["adaptation"]
    skipped = f", {len(record['skipped'])} unreadable skipped" if record["skipped"] else ""
    print(
        f"wrote {args.out} and its card ({record['images']} scans of {args.images}{skipped}; "
        f"sha256 {card.onnx_sha256[:12]}); the thresholds are the source's: measure it on labelled scans "
        f"with `nii eval --model {args.out} --data DIR`"
    )


# --- nii demo ------------------------------------------------------------------------------------

DEFAULT_MODEL = Path("models/nii-nano.onnx")


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run the shipped model on the sample scans and show what it finds beside the declaration",
        description="Detect the contents of every scan in sample_scans/ with an exported model (ONNX "
        "Runtime), print them beside the declared lines and the ground truth, and write annotated images.",
    )
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"model.onnx (default {DEFAULT_MODEL})")
    p.add_argument("--scans", type=Path, default=Path("sample_scans"), help="folder with manifest.json")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for annotated images")
    p.add_argument("--threads", type=_positive_int, default=None, help="ONNX Runtime threads")
    p.set_defaults(func=_run_demo)


def _run_demo(args: argparse.Namespace) -> None:
    import json
    import time

    import cv2
    import numpy as np

    from nii.runtime import decode_image, load_detector

    manifest_path = args.scans / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(
            f"{manifest_path} not found: --scans must name a folder made by scripts/make_sample_scans.py"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    detector = load_detector(args.model, threads=args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"model {args.model} (sha256 {detector.sha256[:12]}) on {detector.provider}; {len(manifest)} scans")
    found = expected = hits = 0
    timings = []
    for entry in manifest:
        rgb = decode_image(args.scans / entry["scan"])
        start = time.perf_counter()
        dets = detector.detect(rgb)
        timings.append((time.perf_counter() - start) * 1000)
        declaration = json.loads((args.scans / entry["declaration"]).read_text(encoding="utf-8"))
        seen = sorted(dets.class_names)
        truth = sorted(b["class_name"] for b in entry["boxes"])
        found += len(seen)
        expected += len(truth)
        hits += sum(min(seen.count(c), truth.count(c)) for c in set(truth))
        lines = (
            "; ".join(f"{i['quantity']} x {i['description']}" for i in declaration["items"]) or "(no lines)"
        )
        print(f"\n{entry['scan']}  truth: {', '.join(entry['labels'])}")
        print(f"  declared: {lines}")
        print(
            "  detected: "
            + (
                ", ".join(f"{n} {s:.2f}" for n, s in zip(dets.class_names, dets.scores, strict=True))
                or "nothing"
            )
        )
        print(f"  in scan:  {', '.join(truth) or 'no detector-class item'}")
        bgr = np.ascontiguousarray(rgb[..., ::-1])
        for (x1, y1, x2, y2), name, score in zip(
            dets.xyxy.astype(int), dets.class_names, dets.scores, strict=True
        ):
            cv2.rectangle(bgr, (x1, y1), (x2, y2), (40, 40, 220), 2)
            cv2.putText(
                bgr,
                f"{name} {score:.2f}",
                (x1, max(y1 - 4, 12)),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (40, 40, 220),
                1,
                cv2.LINE_AA,
            )
        cv2.imwrite(str(args.out / (Path(entry["scan"]).stem + ".png")), bgr)
    print(
        f"\n{hits} of {expected} items found, {found - hits} extra detections; "
        f"median {float(np.median(timings)):.1f} ms per scan; annotated images in {args.out}"
    )


# --- nii triage ----------------------------------------------------------------------------------


def _add_triage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "triage",
        help="decide release / refer / hold for one scan and its declaration, with reasons",
        description="Detect the scan's contents with the shipped model, compare them with the declaration "
        "and apply the risk policy. Prints the decision, its reasons, the detections and the line matches.",
    )
    p.add_argument("image", type=Path, help="scan image (PNG/JPEG); STEM_low/high.png beside it are used")
    p.add_argument("--declaration", type=Path, required=True, help="declaration JSON (CN22/CN23 style)")
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"model.onnx (default {DEFAULT_MODEL})")
    p.add_argument("--policy", type=Path, default=None, help="policy YAML (default: the shipped one)")
    p.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default: the shipped one)")
    p.add_argument("--threads", type=_positive_int, default=None, help="ONNX Runtime threads")
    p.add_argument("--json", action="store_true", help="print the decision as JSON")
    p.set_defaults(func=_run_triage)


def _run_triage(args: argparse.Namespace) -> None:
    import json

    from nii.matching import load_taxonomy, read_declaration
    from nii.runtime import load_detector
    from nii.triage import load_policy, load_scan, triage

    declaration = read_declaration(args.declaration)
    scan = load_scan(args.image)
    detector = load_detector(args.model, threads=args.threads)
    decision = triage(
        scan, declaration, detector, policy=load_policy(args.policy), taxonomy=load_taxonomy(args.taxonomy)
    )
    if args.json:
        print(json.dumps(decision.to_json(), indent=2, ensure_ascii=False))
        return
    print(
        f"{decision.scan_id}: {str(decision.outcome).upper()}  (risk {decision.risk_score:.2f}; policy "
        f"{decision.policy_version}; model {decision.model_sha256[:12]}, "
        f"card {decision.model_card_sha256[:12]}; scan {decision.scan_sha256[:12]})"
    )
    for r in decision.reasons:
        print(f"  [{r.severity}] {r.code}: {r.text}")
    c = decision.comparison
    print("detections: " + (", ".join(f"{d.class_name} {d.score:.2f}" for d in c.detections) or "none"))
    for line in c.lines:
        lc = line.classification
        print(
            f"  line {line.index + 1}: {lc.description!r} -> {', '.join(lc.categories) or '?'} "
            f"[{line.status}{', seen ' + str(line.seen) if line.explains else ''}]"
        )
    if c.material is not None:
        m = c.material
        mass = "" if m.estimated_mass_kg is None else f", est. {m.estimated_mass_kg:.1f} kg"
        print(
            f"material ({m.source}): organic {m.organic:.0%}, inorganic {m.inorganic:.0%}, "
            f"metal {m.metal:.0%}{mass}"
        )


# --- nii classify-description --------------------------------------------------------------------


def _add_classify_description(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify-description",
        help="show the taxonomy categories a declared line maps to (for tuning the taxonomy)",
        description="Map a declared item description (and optional HS code) to taxonomy categories, best "
        "first, with the matched keywords and flags (vague, unknown HS code, HS mismatch ...).",
    )
    p.add_argument("text", help="the item description as declared")
    p.add_argument("--hs", default=None, help="the declared HS code (6 digits; 8-10 accepted)")
    p.add_argument("--value", type=float, default=None, help="declared line value (flags 0 and 1)")
    p.add_argument("--taxonomy", type=Path, default=None, help="taxonomy YAML (default: the shipped one)")
    p.add_argument("--json", action="store_true", help="print JSON (key `categories`, best first)")
    p.set_defaults(func=_run_classify_description)


def _run_classify_description(args: argparse.Namespace) -> None:
    import json

    from nii.matching import classify_line, load_taxonomy
    from nii.matching.declaration import normalise_hs

    try:
        hs = normalise_hs(args.hs)
    except ValueError as exc:
        raise UsageError(f"--hs: {exc}") from None
    result = classify_line(args.text, hs, taxonomy=load_taxonomy(args.taxonomy), value=args.value)
    if args.json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
        return
    where = f" (HS {hs})" if hs else ""
    print(f"{args.text!r}{where} -> {', '.join(result.categories) or 'no category'}")
    for m in result.matches:
        print(f"  {m.category:<12} {m.source:<4} {m.keyword!r} ({m.score:.0f})")
    if result.flags:
        print("flags: " + ", ".join(str(f) for f in result.flags))


# --- nii eval-triage -----------------------------------------------------------------------------


def _shares_line(shares: tuple[float | None, float | None, float | None]) -> str:
    """'prohibited stopped X%   misdeclared flagged Y%   compliant released Z%' ('-' for no parcels)."""
    names = ("prohibited stopped", "misdeclared flagged", "compliant released")
    return "   ".join(f"{k} {'-' if v is None else f'{v:.1%}'}" for k, v in zip(names, shares, strict=True))


def _add_labelled_parcels_options(p: argparse.ArgumentParser, data_help: str, policy_help: str) -> None:
    """--data, --model, --policy, --limit, --threads: a model and a policy over labelled parcels."""
    p.add_argument("--data", type=Path, required=True, help=data_help)
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help=f"model.onnx (default {DEFAULT_MODEL})")
    p.add_argument("--policy", type=Path, default=None, help=policy_help)
    p.add_argument("--limit", type=_positive_int, default=None, help="only the first N parcels")
    p.add_argument("--threads", type=_positive_int, default=None, help="ONNX Runtime threads")


def _add_eval_triage(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval-triage",
        help="run the whole triage pipeline over a `nii synth` folder; decisions per ground-truth label",
        description="Triage every parcel of a synthetic folder with the shipped model and report, per "
        "ground-truth label, how many were released, referred and held, plus the share of prohibited "
        "parcels stopped, misdeclared parcels flagged and compliant parcels released.",
    )
    _add_labelled_parcels_options(p, "folder written by `nii synth`",
                                  "policy YAML (default: the shipped one)")
    p.add_argument(
        "--oracle",
        action="store_true",
        help="use the ground-truth boxes instead of the model (ceiling of matching + policy)",
    )
    p.add_argument("--json", type=Path, default=None, help="write the report as JSON here")
    p.add_argument("--decisions", type=Path, default=None,
                   help="write each parcel's labels and decision (reasons, detections) here, as JSON lines")
    p.set_defaults(func=_run_eval_triage)


def _run_eval_triage(args: argparse.Namespace) -> None:
    import json

    from nii.triage import load_policy
    from nii.triage.evaluate import evaluate_triage

    detector = None
    if not args.oracle:
        from nii.runtime import load_detector

        detector = load_detector(args.model, threads=args.threads)
    report = evaluate_triage(
        args.data,
        detector,
        policy=load_policy(args.policy),
        limit=args.limit,
        oracle=args.oracle,
        progress=True,
        decisions=args.decisions,
    )
    if args.json is not None:
        args.json.write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")

    print(
        f"{report.parcels} parcels ({report.errors} errors) from {report.data}; model "
        f"{report.model_sha256[:12]}, policy {report.policy_version}; median {report.median_ms:.1f} ms"
    )
    shares = (report.prohibited_stopped, report.misdeclared_flagged, report.compliant_released)
    print(f"{_shares_line(shares)}   random controls {report.random_controls}")
    print(f"{'label':<20}{'release':>8}{'refer':>7}{'hold':>6}{'flagged':>9}")
    for label, c in report.per_label.items():
        _print_row(label, c)
        if label in report.per_label_goods_only:
            _print_row("  goods w/o class", report.per_label_goods_only[label])
        if label == "prohibited_item" and sum(report.prohibited_undeclared.values()):
            _print_row("  not declared", report.prohibited_undeclared)


def _print_row(label: str, c: dict[str, int]) -> None:
    from nii.triage.evaluate import flagged_share

    print(f"{label:<20}{c['release']:>8}{c['refer']:>7}{c['hold']:>6}{flagged_share(c):>9.1%}")


# --- nii tune-policy -----------------------------------------------------------------------------


def _add_tune_policy(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "tune-policy",
        help="choose per-class detection floors of a policy on labelled parcels (a `nii synth` folder)",
        description="Run the model once over labelled parcels, then search per-class detection score "
        "floors that maximise misdeclared flagged + compliant released while keeping prohibited "
        "parcels stopped at or above --min-prohibited (and misdeclared parcels flagged at or above "
        "--min-misdeclared). Writes a policy YAML; tune on validation "
        "parcels, then measure it with `nii eval-triage --policy OUT --data TEST`.",
    )
    _add_labelled_parcels_options(p, "folder written by `nii synth` (validation)",
                                  "policy YAML to start from (default: the shipped one)")
    p.add_argument("--out", type=Path, required=True, help="tuned policy YAML to write")
    p.add_argument("--version", required=True, help="version string of the tuned policy")
    p.add_argument("--min-prohibited", type=float, default=None,
                   help="floor on the share of prohibited parcels held or referred (default: the "
                   "starting policy's share on these parcels)")
    p.add_argument("--min-misdeclared", type=float, default=0.0,
                   help="floor on the share of misdeclared parcels referred or held, reached at the "
                   "expense of compliant parcels released (default 0: none)")
    p.add_argument("--attenuation-keep", type=float, default=0.0,
                   help="on parcels with dual-energy readings, ask each class's detections for the least "
                   "peak attenuation this share of its true detections reach, e.g. 0.99 (default 0: keep "
                   "the policy's own levels)")
    p.set_defaults(func=_run_tune_policy)


def _run_tune_policy(args: argparse.Namespace) -> None:
    from nii.runtime import load_detector
    from nii.triage import load_policy
    from nii.triage.pipeline import compare_settings
    from nii.triage.policy import DEFAULT_POLICY_PATH
    from nii.triage.tune import collect, tune_floors, write_tuned_policy

    if not 0.0 <= args.attenuation_keep <= 1.0:
        raise UsageError(f"--attenuation-keep must lie in [0, 1], got {args.attenuation_keep:g}")
    detector = load_detector(args.model, threads=args.threads)
    # Decide as triage will with this model: its card's look-alikes (and recall) where the policy has none.
    policy = load_policy(args.policy)
    policy = dataclasses.replace(policy, comparison=compare_settings(policy, detector))
    parcels = collect(args.data, detector, policy, limit=args.limit, progress=True)
    result = tune_floors(parcels, policy, list(detector.classes), thresholds=detector.thresholds,
                         min_prohibited=args.min_prohibited, min_misdeclared=args.min_misdeclared,
                         attenuation_keep=args.attenuation_keep or None)
    target = "" if args.min_prohibited is None else f", --min-prohibited {args.min_prohibited:g}"
    target += f", --min-misdeclared {args.min_misdeclared:g}" if args.min_misdeclared else ""
    target += f", --attenuation-keep {args.attenuation_keep:g}" if args.attenuation_keep else ""
    note = f"{result.parcels} parcels of {args.data}{target}, model {detector.sha256[:12]}"
    write_tuned_policy(args.policy or DEFAULT_POLICY_PATH, result.policy, args.version, args.out, note)

    print(f"{result.parcels} parcels")
    print(f"before: {_shares_line(result.before)}")
    print(f"after:  {_shares_line(result.after)}")
    print("floors: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(result.policy.min_score_by_class.items())))
    least = result.policy.comparison.min_attenuation
    print("least attenuation: " + (", ".join(f"{k} {v:.1f}" for k, v in sorted(least.items())) or "none"))
    print(f"wrote {args.out} (version {args.version})")


# --- nii learn-references -------------------------------------------------------------------------


def _add_learn_references(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "learn-references",
        help="learn each category's unit value and unit weight from compliant declarations into a policy",
        description="Read declarations known to be true (the compliant parcels of `nii synth` folders, "
        "or manifest CSVs of cleared parcels) and write a policy whose comparison checks each declared "
        "line against its category's profile: unit value below half the low quantile is undervalued, "
        "a unit weight outside the range is `unit_weight_atypical`.",
    )
    p.add_argument("--data", type=Path, action="append", required=True,
                   help="`nii synth` folder or manifest .csv of cleared parcels (repeatable)")
    p.add_argument("--policy", type=Path, default=None,
                   help="policy YAML to start from (default: the shipped one)")
    p.add_argument("--out", type=Path, required=True, help="policy YAML to write")
    p.add_argument("--version", required=True, help="version string of the written policy")
    # Defaults: nii.triage.references (not imported here, to keep `nii --help` fast).
    p.add_argument("--quantile", type=float, default=None,
                   help="share of compliant lines left outside each end of a profile (default 0.01)")
    p.add_argument("--margin", type=float, default=None,
                   help="factor widening each end of the unit-weight range (default 1.1)")
    p.add_argument("--min-lines", type=_positive_int, default=None,
                   help="fewest compliant lines a category needs for a profile (default 30)")
    p.set_defaults(func=_run_learn_references)


def _run_learn_references(args: argparse.Namespace) -> None:
    import itertools

    from nii.triage import references as learn
    from nii.triage.policy import DEFAULT_POLICY_PATH, write_policy

    declarations = list(itertools.chain.from_iterable(learn.compliant_declarations(d) for d in args.data))
    options = {"quantile": learn.QUANTILE, "margin": learn.MARGIN, "min_lines": learn.MIN_LINES}
    options.update({k: v for k in options if (v := getattr(args, k)) is not None})
    references = learn.learn_references(declarations, **options)
    if not references:
        raise UsageError(f"no category has enough compliant lines in {len(declarations)} declarations")
    sources = ", ".join(str(d) for d in args.data)
    note = f"`nii learn-references`, {len(declarations)} compliant declarations of {sources}" + "".join(
        f", {k} {v:g}" for k, v in options.items())
    write_policy(args.policy or DEFAULT_POLICY_PATH, args.out, args.version, note,
                 {"comparison": {"references": learn.references_yaml(references)}})

    print(f"{len(declarations)} compliant declarations")
    print(f"{'category':<12}{'lines':>7}{'min USD/unit':>14}{'kg/unit':>18}")
    for name, r in references.items():
        value = "-" if r.min_unit_value_usd is None else f"{r.min_unit_value_usd:g}"
        mass = "-" if r.unit_mass_kg is None else f"{r.unit_mass_kg[0]:g}-{r.unit_mass_kg[1]:g}"
        print(f"{name:<12}{r.lines:>7}{value:>14}{mass:>18}")
    print(f"wrote {args.out} (version {args.version})")


# --- nii serve / users / keys / audit --------------------------------------------------------------


@contextlib.contextmanager
def _service_db(args: argparse.Namespace) -> Iterator[Any]:
    """The service's store (migrated), closed on exit."""
    from nii.api.settings import load_settings
    from nii.store import Database

    overrides = {"database_url": args.database_url} if getattr(args, "database_url", None) else {}
    db = Database(load_settings(**overrides).resolved_database_url)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()


def _add_db_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--database-url", default=None, help="default: NII_DATABASE_URL, else sqlite:///data/nii.db"
    )


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="run the triage HTTP service (API under /v1, docs at /docs)",
        description="Start the FastAPI service with uvicorn. Settings come from NII_* variables (see "
        "nii/api/settings.py); the store is SQLite under data/ unless NII_DATABASE_URL is set.",
    )
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=_positive_int, default=8000, help="port (default 8000)")
    p.add_argument("--model", type=Path, default=None, help="model.onnx (default NII_MODEL_PATH)")
    _add_db_option(p)
    p.add_argument(
        "--load-samples",
        nargs="?",
        const=Path("sample_scans"),
        type=Path,
        default=None,
        metavar="DIR",
        help="once ready, upload DIR (default sample_scans/) through the API as station 'sample-station'",
    )
    p.set_defaults(func=_run_serve)


def _run_serve(args: argparse.Namespace) -> None:
    import threading

    import uvicorn

    from nii.api.main import create_app
    from nii.api.samples import post_samples, sample_station_key, wait_ready
    from nii.api.settings import load_settings
    from nii.store import Database

    overrides: dict[str, object] = {}
    if args.model is not None:
        overrides["model_path"] = args.model
    if args.database_url:
        overrides["database_url"] = args.database_url
    settings = load_settings(**overrides)
    base = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}"
    if args.load_samples is not None:
        db = Database(settings.resolved_database_url)
        db.migrate()
        key = sample_station_key(db)
        db.dispose()

        def load() -> None:
            try:
                wait_ready(base)
                for case in post_samples(base, key, args.load_samples):
                    state = case.get("state", case.get("error"))
                    print(
                        f"  {case.get('station_scan_id', '?'):<10} {state!s:<10} "
                        f"{case.get('decision') or '':<8} {case.get('id', case.get('detail', ''))}"
                    )
                print(f"samples loaded; officer page: {base}/ (nii users add NAME --role officer --password)")
            except NiiError as exc:
                print(f"nii serve: --load-samples: {exc}", file=sys.stderr)

        threading.Thread(target=load, name="nii-load-samples", daemon=True).start()
    print(f"nii serve: {base}  (API docs {base}/docs; store {settings.resolved_database_url})")
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="info")


def _add_password_options(p: argparse.ArgumentParser) -> None:
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin"
    )
    how.add_argument("--password", action="store_true", help="prompt for the password (not echoed)")


def _read_password(args: argparse.Namespace, *, required: bool) -> str | None:
    """The password from stdin or a prompt (typed twice); None when neither was asked for."""
    import getpass

    if args.password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise UsageError(
                '--password-stdin: stdin is empty; pipe the password in (printf %s "$PW" | nii ...)'
            )
        return line
    if not (args.password or required):
        return None
    if not sys.stdin.isatty():
        raise UsageError("no terminal to prompt for the password on; use --password-stdin")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise UsageError("the two passwords differ; nothing was changed")
    return first


def _add_users(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("users", help="add, list, disable and enable stations, officers, supervisors, admins")
    _add_db_option(p)
    action = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = action.add_parser(
        "add",
        help="add an account: people get a password for the page, stations a key (`nii keys create`)",
    )
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=["station", "officer", "supervisor", "admin"])
    _add_password_options(add)
    passwd = action.add_parser("passwd", help="set or replace an account's password (ends its sessions)")
    passwd.add_argument("name")
    _add_password_options(passwd)
    action.add_parser("list", help="list accounts")
    for name in ("disable", "enable"):
        action.add_parser(
            name, help=f"{name} an account (its keys and sessions stop/start working)"
        ).add_argument("name")
    p.set_defaults(func=_run_users)


def _run_users(args: argparse.Namespace) -> None:
    from nii.store import accounts, logins
    from nii.store.accounts import Role

    # read and check the password before opening the store: a refused one changes nothing
    password = (
        _read_password(args, required=args.action == "passwd") if args.action in ("add", "passwd") else None
    )
    if password is not None:
        accounts.check_password(password)
    with _service_db(args) as db, db.session() as s:
        if args.action == "add":
            p = accounts.add_principal(s, name=args.name, role=Role(args.role), password=password)
            how = (
                "it signs in on the page with its password"
                if password
                else f"give it a key: nii keys create {p.name}"
            )
            print(f"added {p.role} {p.name}; {how}")
        elif args.action == "passwd":
            accounts.set_password(s, args.name, password or "")
            ended = logins.end_all(s, args.name, why="password changed")
            print(f"password of {args.name} set; {ended} open session(s) ended")
        elif args.action == "list":
            for p in accounts.list_principals(s):
                state = "active" if p.active else "disabled"
                print(f"{p.name:<24} {p.role:<11} {state:<9} {'password' if p.has_password else 'keys only'}")
        else:
            p = accounts.set_active(s, args.name, args.action == "enable")
            if not p.active:
                logins.end_all(s, args.name, why="account disabled")
            print(f"{p.name} is now {'active' if p.active else 'disabled'}")


def _add_keys(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="create, list and revoke API keys (only a hash is stored)")
    _add_db_option(p)
    action = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    action.add_parser("create", help="a new key for an account (printed once)").add_argument("name")
    action.add_parser("list", help="list keys (ids only)")
    action.add_parser("revoke", help="revoke a key by its id").add_argument("key_id")
    p.set_defaults(func=_run_keys)


def _run_keys(args: argparse.Namespace) -> None:
    from nii.store import accounts

    with _service_db(args) as db, db.session() as s:
        if args.action == "create":
            record, token = accounts.issue_key(s, args.name)
            print(token)
            print(f"key {record.id} for {record.principal}: shown once, store it now", file=sys.stderr)
        elif args.action == "list":
            for k in accounts.list_keys(s):
                state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
                print(f"{k.id}  {k.principal:<24} created {k.created_at:%Y-%m-%d %H:%M}  {state}")
        else:
            k = accounts.revoke_key(s, args.key_id)
            print(f"key {k.id} of {k.principal} revoked")


def _add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="check the audit chain")
    _add_db_option(p)
    action = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    action.add_parser("verify", help="recompute every hash; exit 2 if a record was edited or deleted")
    p.set_defaults(func=_run_audit)


def _run_audit(args: argparse.Namespace) -> None:
    from nii.errors import AuditChainError
    from nii.store import audit

    with _service_db(args) as db, db.session() as s:
        report = audit.verify(s)
    if not report.ok:
        for problem in report.problems:
            print(f"  {problem}", file=sys.stderr)
        n = len(report.problems)
        raise AuditChainError(f"audit chain broken: {n} problems in {report.records} records")
    print(f"audit chain ok: {report.records} records, head {report.head_seq} {report.head_hash}")


def _add_export_annotations(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export-annotations",
        help="write officers' decided cases and box corrections as a COCO dataset for retraining",
        description="Every case an officer closed becomes an image with the boxes as the officer left "
        "them (deleted dropped, relabelled renamed, drawn added): DIR/annotations.json + DIR/images/.",
    )
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--since", default=None, help="only cases decided since this ISO time (UTC if no zone)")
    p.add_argument("--corrected-only", action="store_true", help="only cases whose boxes an officer changed")
    _add_db_option(p)
    p.set_defaults(func=_run_export_annotations)


def _run_export_annotations(args: argparse.Namespace) -> None:
    from datetime import UTC, datetime

    from nii.api.settings import load_settings
    from nii.store import BlobStore
    from nii.store.annotations_export import export_annotations

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError as exc:
            raise UsageError(f"--since {args.since!r} is not an ISO time, e.g. 2026-01-31T00:00:00Z") from exc
        since = since if since.tzinfo else since.replace(tzinfo=UTC)
    overrides = {"database_url": args.database_url} if args.database_url else {}
    blobs = BlobStore(load_settings(**overrides).resolved_scan_root)
    with _service_db(args) as db, db.session() as s:
        report = export_annotations(s, blobs, args.out, since=since, corrected_only=args.corrected_only)
    for why in report.skipped:
        print(f"  skipped {why}", file=sys.stderr)
    print(
        f"{report.images} images ({report.corrected_images} corrected by officers), {report.boxes} boxes "
        f"-> {args.out / 'annotations.json'}"
    )


# --- nii quantize, nii adopt-yolo (nii.runtime) --------------------------------------------------


def _add_quantize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="static int8 (QDQ) copy of an exported model, calibrated on scans, with its own card",
        description="Calibrate on scans letterboxed as serving does (MinMax, per-channel weights); the "
        "box-decoding tail stays float. Measure it afterwards with `nii eval --model OUT --record int8`.",
    )
    p.add_argument("--model", type=Path, required=True, help="exported float model .onnx (card beside it)")
    p.add_argument(
        "--calibration",
        type=Path,
        required=True,
        help="folder of scans (PNG/JPEG, searched recursively), e.g. `nii synth --out` output",
    )
    p.add_argument("--out", type=Path, required=True, help="output .onnx path; the card goes beside it")
    p.add_argument(
        "--format",
        choices=["u8s8", "s8s8"],
        default="u8s8",
        help="u8s8: uint8 activations (fast on x86); s8s8: int8 activations (default u8s8)",
    )
    p.add_argument("--samples", type=_positive_int, default=64, help="calibration scans used (default 64)")
    p.add_argument(
        "--reduce-range",
        action="store_true",
        help="7-bit weights (avoids u8s8 saturation on x86 CPUs without VNNI)",
    )
    p.set_defaults(func=_run_quantize)


def _run_quantize(args: argparse.Namespace) -> None:
    from nii.runtime.quantize import quantize_model

    card = quantize_model(
        args.model,
        args.calibration,
        args.out,
        fmt=args.format,
        samples=args.samples,
        reduce_range=args.reduce_range,
    )
    q = card.quantization or {}
    print(
        f"wrote {args.out} and its card ({q.get('format')}, {q.get('calibration', {}).get('images')} "
        f"calibration scans, sha256 {card.onnx_sha256[:12]}); measure it with "
        f"`nii eval --model {args.out} --data DIR --record int8`"
    )


def _add_adopt_yolo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "adopt-yolo",
        help="write the card that lets nii serve an Ultralytics YOLO ONNX export (bring your own model)",
        description="Reads the class names Ultralytics stores in the ONNX metadata and maps them onto the "
        "taxonomy with --class-map (YAML/JSON: source name or index -> class, null drops it).",
    )
    p.add_argument("--model", type=Path, required=True, help="Ultralytics ONNX export ([B, 4+nc, N] output)")
    p.add_argument("--class-map", type=Path, required=True, help="YAML/JSON class map onto the taxonomy")
    p.add_argument(
        "--threshold", type=float, default=0.25, help="score threshold of every class (default 0.25)"
    )
    p.add_argument("--name", default=None, help="model name in the card (default: file stem)")
    p.set_defaults(func=_run_adopt_yolo)


def _run_adopt_yolo(args: argparse.Namespace) -> None:
    from nii.runtime.yolo import write_yolo_card

    if not 0.0 <= args.threshold <= 1.0:
        raise UsageError(f"--threshold must lie in [0, 1], got {args.threshold}")
    card = write_yolo_card(args.model, class_map=args.class_map, threshold=args.threshold, name=args.name)
    mapped = ", ".join(f"{card.source_names[i]}->{c}" for i, c in sorted(card.class_map.items()))
    print(
        f"wrote the card of {args.model} (input {card.input.size}, serves {', '.join(card.classes)}; "
        f"{mapped})"
    )


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_synth,
    _add_train,
    _add_export,
    _add_adapt,
    _add_quantize,
    _add_adopt_yolo,
    _add_eval,
    _add_demo,
    _add_triage,
    _add_classify_description,
    _add_eval_triage,
    _add_tune_policy,
    _add_learn_references,
    _add_serve,
    _add_users,
    _add_keys,
    _add_audit,
    _add_export_annotations,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nii", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.description = "nii: X-ray parcel triage for customs (detect, compare with the declaration, route)."
    parser.add_argument("--version", action="version", version=f"nii {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose + 1, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))  # migration chatter
    try:
        args.func(args)
    except NiiError as exc:  # UsageError included: one line, exit status 2
        print(f"nii {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
