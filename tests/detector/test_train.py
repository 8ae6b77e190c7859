"""Training smoke test: configs/smoke.yaml on a tiny dataset, checkpoints, log, plot, --resume."""

from __future__ import annotations

import copy
import csv
import time
from pathlib import Path

import pytest
import torch

from nii.cli import main
from nii.detector.checkpoint import load_checkpoint
from nii.detector.config import load_config
from nii.detector.loss import LossWeights
from nii.detector.model import Detector, freeze_backbone
from nii.detector.train import (
    EMA,
    _param_groups,
    lr_at,
    model_spec,
    native_bf16,
    train,
    train_step,
    training_forward,
)
from nii.errors import ConfigError
from nii.synth.dataset import SynthSpec, write_dataset
from tests.helpers import write_tiny_checkpoint

SMOKE = Path(__file__).resolve().parents[2] / "configs" / "smoke.yaml"


@pytest.fixture(scope="module")
def smoke_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 parcels from `nii synth`."""
    root = tmp_path_factory.mktemp("smoke") / "data"
    write_dataset(SynthSpec(count=16, seed=5, write_raw=False), root)
    return root


def _two_image_batch() -> dict[str, torch.Tensor]:
    """Two 64 px images with one box each, collated as the training loader does."""
    return {"images": torch.rand(2, 3, 64, 64), "gt_xyxy": torch.tensor([[[10.0, 12.0, 40.0, 44.0]]] * 2),
            "gt_labels": torch.tensor([[1], [2]]), "gt_mask": torch.tensor([[True], [True]])}


def _rows(run: Path) -> list[dict[str, str]]:
    with open(run / "log.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_two_epochs_then_resume(smoke_data: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    overrides = [f"data.train={smoke_data}", f"data.val={smoke_data}", f"train.out={run}"]
    result = train(load_config(SMOKE, overrides), progress=False)

    assert result.epochs == 2 and result.best_map50_95 is not None
    for name in ("last.pt", "best.pt", "log.csv", "log.png"):
        assert (run / name).stat().st_size > 0, name
    rows = _rows(run)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[1]["loss"]) < float(rows[0]["loss"])
    assert all(r["map50"] != "" and 0.0 <= float(r["map50"]) <= 1.0 for r in rows)

    # --resume through the CLI, extending the schedule by one epoch
    code = main(["train", "--config", str(SMOKE), "--resume", "--data", str(smoke_data), "--val-data",
                 str(smoke_data), "--out", str(run), "--set", "train.epochs=3"])
    assert code == 0
    assert [r["epoch"] for r in _rows(run)] == ["1", "2", "3"]
    state = torch.load(run / "last.pt", weights_only=True)
    assert state["epoch"] == 3 and state["images_seen"] == 3 * 16
    assert state["bf16"] is native_bf16(load_config(SMOKE).train.bf16)  # the precision the run used


@pytest.mark.slow
def test_a_budget_spent_by_validation_ends_the_run(smoke_data: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import nii.detector.train as trainer

    clock = {"offset": 0.0}
    real_monotonic, real_evaluate = time.monotonic, trainer.evaluate_map

    def slow_validation(*args: object, **kwargs: object) -> dict[str, float]:
        clock["offset"] += 120.0  # the first validation takes the run past its one-minute budget
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(trainer.time, "monotonic", lambda: real_monotonic() + clock["offset"])
    monkeypatch.setattr(trainer, "evaluate_map", slow_validation)
    run = tmp_path / "run"
    overrides = [f"data.train={smoke_data}", f"data.val={smoke_data}", f"train.out={run}",
                 "train.time_budget_min=1"]
    result = train(load_config(SMOKE, overrides), progress=False)
    assert result.epochs == 1 and result.images_per_s > 0
    assert [r["epoch"] for r in _rows(run)] == ["1"]  # no empty second epoch logged
    assert torch.load(run / "last.pt", weights_only=True)["planned_epochs"] == 1


def test_a_fine_tune_keeps_the_architecture_of_its_init_weights(smoke_data: Path, tmp_path: Path) -> None:
    init = write_tiny_checkpoint(tmp_path / "dwsep.pt", block="dwsep")  # the smoke config says dense
    overrides = [f"data.train={smoke_data}", "data.val=null", "train.epochs=1", f"train.out={tmp_path}/ft"]
    result = train(load_config(SMOKE, overrides), init=init, progress=False)

    tuned = load_checkpoint(result.run_dir / "last.pt")
    assert tuned["spec"] == {**load_checkpoint(init)["spec"], "num_classes": len(tuned["classes"])}
    assert tuned["spec"]["block"] == "dwsep"


def test_resume_without_checkpoint_names_the_file(smoke_data: Path, tmp_path: Path) -> None:
    code = main(["train", "--config", str(SMOKE), "--resume", "--data", str(smoke_data),
                 "--out", str(tmp_path / "nothing")])
    assert code == 2


def test_unknown_config_key_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMOKE.read_text() + "  epochz: 3  # typo\n")
    with pytest.raises(ConfigError, match="epochz"):
        load_config(bad)
    assert main(["train", "--config", str(bad)]) == 2


def test_freeze_keeps_the_leading_backbone_parts_and_their_statistics_fixed() -> None:
    torch.manual_seed(0)
    model = Detector(model_spec(load_config(SMOKE), num_classes=3)).train()
    freeze_backbone(model, 2)  # stem and stride-4 stage
    frozen = [model.backbone.stem, model.backbone.stage4]
    before = {id(m): [t.clone() for t in (*m.parameters(), *m.buffers())] for m in frozen}
    trained_before = [p.clone() for p in model.backbone.stage8.parameters()]
    groups = _param_groups(model, 0.05)
    assert sum(len(g["params"]) for g in groups) == sum(p.requires_grad for p in model.parameters())
    optimizer = torch.optim.AdamW(groups, lr=0.01)
    batch = _two_image_batch()
    train_step(model, optimizer, EMA(model, 0.9), batch, LossWeights(), 10.0)

    for m in frozen:
        assert not m.training
        for a, b in zip(before[id(m)], (*m.parameters(), *m.buffers()), strict=True):
            assert torch.equal(a, b)  # weights and BatchNorm running statistics alike
    after = model.backbone.stage8.parameters()
    assert any(not torch.equal(a, b) for a, b in zip(trained_before, after, strict=True))  # the rest learns
    with pytest.raises(ConfigError, match=r"train\.freeze"):
        load_config(SMOKE, ["train.freeze=6"])


def test_a_bf16_step_computes_the_forward_in_bfloat16_and_keeps_float32_weights() -> None:
    torch.manual_seed(0)
    model = Detector(model_spec(load_config(SMOKE), num_classes=3)).train()  # dense, like nano.yaml
    seen: list[torch.dtype] = []
    model.neck.register_forward_hook(lambda _m, _i, out: seen.append(out[0].dtype))
    before = [p.clone() for p in model.parameters()]
    optimizer = torch.optim.AdamW(_param_groups(model, 0.05), lr=0.01)
    batch = _two_image_batch()
    losses = train_step(model, optimizer, EMA(model, 0.9), batch, LossWeights(), 10.0, bf16=True)

    assert seen == [torch.bfloat16]
    assert losses["loss"].dtype == torch.float32 and torch.isfinite(losses["loss"])
    assert all(p.dtype == torch.float32 for p in model.parameters())
    changed = sum(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert changed > len(before) // 2


def test_bf16_is_used_only_where_the_cpu_computes_it_natively(monkeypatch: pytest.MonkeyPatch,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    # This machine answers one way; the probes are replaced to see the others (the hardware cannot be).
    here = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert native_bf16(True) is here and native_bf16(False) is False
    for avx512_bf16, amx in ((True, False), (False, True), (False, False)):
        caplog.clear()
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert native_bf16(True) is (avx512_bf16 or amx)
        assert ("no native bfloat16" in caplog.text) is not (avx512_bf16 or amx)


@pytest.mark.slow
def test_compiled_forward_and_backward_match_a_float64_reference(caplog: pytest.LogCaptureFixture) -> None:
    torch.manual_seed(0)
    compiled = Detector(model_spec(load_config(SMOKE), num_classes=3)).train()
    reference = copy.deepcopy(compiled).double()  # eager float32 at 1 thread strays further
    images = _two_image_batch()["images"]
    outputs = []
    for model, compile in ((reference, False), (compiled, True)):
        x = images.to(next(model.parameters()).dtype)
        cls, box, _ = training_forward(model, compile)(x)
        # A smooth function of every output, not the detection loss: its top-k assignment would let a
        # rounding difference move a positive point and change the gradients outright.
        g = torch.Generator().manual_seed(1)
        smooth = (cls * torch.randn(cls.shape, generator=g).to(cls)).sum()
        (smooth + (box * torch.randn(box.shape, generator=g).to(box)).sum()).backward()
        outputs.append((cls.detach().float(), box.detach().float()))

    assert "torch.compile failed" not in caplog.text  # it compiled, rather than falling back
    for a, b in zip(*outputs, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4)
    for a, b in zip(reference.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad.float(), rtol=1e-3, atol=1e-3 * float(a.grad.abs().max()))


def test_a_failed_compile_trains_eager_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    def no_compiler(fn):  # what inductor does on a machine without a C++ compiler: fail at the first call
        def call(*args):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", no_compiler)
    torch.manual_seed(0)
    model = Detector(model_spec(load_config(SMOKE), num_classes=3)).eval()
    forward = training_forward(model, compile=True)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for expected, got in zip(model.forward_raw(x), forward(x), strict=True):
            assert torch.equal(expected, got)
        forward(x)  # eager from now on: warned once
    assert caplog.text.count("torch.compile failed (RuntimeError: InvalidCxxCompiler") == 1


def test_a_crop_larger_than_the_input_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="crop_size"):
        load_config(SMOKE, ["train.input_size=128", "train.crop_size=160"])


@pytest.mark.parametrize(
    "step,expected",
    [(0, 0.1), (9, 1.0), (10, 1.0), (55, 0.55), (100, 0.1)],
    ids=["warmup-start", "warmup-end", "peak", "middle", "end"],
)
def test_schedule_warmup_then_cosine(step: int, expected: float) -> None:
    assert lr_at(step, 100, 10, 1.0, 0.1) == pytest.approx(expected, abs=1e-6)


def test_time_budget_progress_drives_the_cosine_when_ahead_of_the_steps() -> None:
    assert lr_at(20, 100, 10, 1.0, 0.1, progress=1.0) == pytest.approx(0.1)  # budget spent: fully annealed
    assert lr_at(55, 100, 10, 1.0, 0.1, progress=0.5) == pytest.approx(0.55)  # equal: the same point
    assert lr_at(55, 100, 10, 1.0, 0.1, progress=0.1) == pytest.approx(0.55)  # steps ahead: steps rule
    assert lr_at(5, 100, 10, 1.0, 0.1, progress=0.9) == pytest.approx(0.6)  # warm-up is by steps
