"""The `nii` command line. The only module that prints and configures logging.

Each subcommand is an `_add_<name>` function that declares its options and sets `func` to a
`_run_<name>` function. Library errors (`NiiError`) become a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT in pixels, e.g. 800x600, got {text!r}") from None
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
    p.add_argument("--threats", type=float, default=None, help="share of parcels holding a detector-class item")
    p.set_defaults(func=_run_synth)


def _run_synth(args: argparse.Namespace) -> None:
    from nii.synth.dataset import SynthSpec, write_dataset

    spec = SynthSpec(count=args.count, seed=args.seed, width=args.size[0], height=args.size[1],
                     write_raw=not args.no_raw)
    summary = write_dataset(spec, args.out, workers=args.workers, progress=True)
    print(f"wrote {summary.images} parcels, {summary.boxes} boxes to {args.out} "
          f"({summary.seconds:.1f} s, {summary.images / max(summary.seconds, 1e-9):.1f} parcels/s)")


COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_synth]


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
    try:
        args.func(args)
    except UsageError as exc:
        parser.exit(2, f"nii {args.command}: error: {exc}\n")
    except NiiError as exc:
        print(f"nii {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
