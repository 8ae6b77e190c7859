"""Training augmentation: the X-ray object overlay and the train transform keep images and boxes together."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision import tv_tensors
from torchvision.transforms.v2 import functional as F

from nii.datasets import Sample
from nii.detector.augment import DetectionDataset, ObjectBank, RandomRot90, TrainTransform, overlay_parcel
from nii.detector.config import AugmentConfig


def _parcel(background: int = 255) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 200 x 300 image of one background level with a dark 20 x 30 object at (100, 50)."""
    image = np.full((200, 300, 3), background, np.uint8)
    image[50:70, 100:130] = (np.array([60, 90, 120]) * background / 255).astype(np.uint8)
    return image, np.array([[100, 50, 130, 70]], np.float32), np.array([4], np.int64)


def test_overlay_multiplies_the_object_in_and_appends_its_box() -> None:
    torch.manual_seed(0)
    bank = ObjectBank(margin=8)
    bank.add(*_parcel())
    target = np.full((200, 300, 3), 255, np.uint8)
    out, boxes, labels = bank.overlay(target, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), count=1)
    assert labels.tolist() == [4]
    x0, y0, x1, y1 = boxes[0]
    assert (x1 - x0, y1 - y0) == (30, 20)  # the object's own size
    inside = out[int(y0):int(y1), int(x0):int(x1)]
    assert np.allclose(inside.reshape(-1, 3).mean(0), [60, 90, 120], atol=1)
    dark = np.argwhere(out.min(axis=2) < 250)
    assert dark[:, 0].min() >= y0 - 8 and dark[:, 0].max() < y1 + 8  # nothing beyond the margin
    assert target.min() == 255  # the input image is not modified in place


def test_the_bank_keeps_its_own_copy_of_each_object() -> None:
    """Objects are worked out when first laid on, so the bank must not read the image it was given later."""
    torch.manual_seed(0)
    bank = ObjectBank(margin=8)
    image, boxes, labels = _parcel()
    bank.add(image, boxes, labels)
    image[:] = 0  # the caller reuses its buffer
    target = np.full((200, 300, 3), 255, np.uint8)
    out, out_boxes, _ = bank.overlay(target, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), count=1)
    x0, y0, x1, y1 = out_boxes[0].astype(int)
    assert np.allclose(out[y0:y1, x0:x1].reshape(-1, 3).mean(0), [60, 90, 120], atol=1)


def test_overlay_divides_out_what_lay_around_the_object() -> None:
    torch.manual_seed(0)
    bank = ObjectBank(margin=8)
    bank.add(*_parcel(background=200))  # the object lay on a bag that transmits 200 / 255
    target = np.full((200, 300, 3), 255, np.uint8)
    out, boxes, _ = bank.overlay(target, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), count=1)
    x0, y0, x1, y1 = boxes[0].astype(int)
    above, below = out[y0 - 6:y0 - 1, x0:x1], out[y1 + 1:y1 + 6, x0:x1]
    ring = np.concatenate([above.reshape(-1, 3), below.reshape(-1, 3)])
    assert ring.min() >= 253  # no tinted rectangle of the old bag around the object
    assert np.allclose(out[y0:y1, x0:x1].reshape(-1, 3).mean(0), [60, 90, 120], atol=2)


def test_overlay_on_an_empty_bank_changes_nothing() -> None:
    image, boxes, labels = _parcel()
    out, out_boxes, out_labels = ObjectBank().overlay(image, boxes, labels, count=3)
    assert out is image and out_boxes is boxes and out_labels is labels


def test_parcel_overlay_multiplies_transmissions_and_adds_the_other_parcels_boxes() -> None:
    image = np.full((200, 300, 3), 255, np.uint8)
    image[10:30, 10:40] = 100
    other = np.full((200, 300, 3), 128, np.uint8)  # a bag transmitting half, a dark object in its centre
    other[90:110, 140:160] = (40, 80, 160)
    for seed in range(10):
        torch.manual_seed(seed)
        out, boxes, labels = overlay_parcel(image, np.array([[10, 10, 40, 30]], np.float32), np.array([4]),
                                            other, np.array([[140, 90, 160, 110]], np.float32), np.array([7]))
        assert labels.tolist() == [4, 7] and boxes[0].tolist() == [10, 10, 40, 30]
        x0, y0, x1, y1 = boxes[1].astype(int)
        assert (x1 - x0, y1 - y0) == (20, 20)
        assert np.array_equal(out[y0:y1, x0:x1], np.broadcast_to([40, 80, 160], (20, 20, 3)))  # on white
        assert np.abs(out[150, 150].astype(int) - 128).max() <= 1  # the other bag covers the centre
        assert image.max() == 255 and image[20, 20, 0] == 100  # the input is not modified in place


def test_parcel_overlay_drops_the_other_parcels_boxes_left_outside_the_frame() -> None:
    image = np.full((200, 300, 3), 255, np.uint8)
    other = np.full((200, 600, 3), 255, np.uint8)  # twice as wide: its ends fall outside the frame
    other_boxes = np.array([[0, 90, 20, 110], [290, 90, 310, 110]], np.float32)
    for seed in range(10):
        torch.manual_seed(seed)
        _, boxes, labels = overlay_parcel(image, np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                                          other, other_boxes, np.array([3, 5]))
        assert labels.tolist() == [5] and 0 <= boxes[0, 0] < boxes[0, 2] <= 300


def test_train_transform_keeps_boxes_on_the_canvas_and_labels_aligned() -> None:
    torch.manual_seed(3)
    transform = TrainTransform(AugmentConfig(scale_prob=1.0, scale_min=1.2, scale_max=1.4), size=128)
    image, boxes, labels = _parcel()
    for _ in range(20):
        img, out_boxes, out_labels = transform(image, boxes, labels)
        assert img.shape == (3, 128, 128) and img.dtype == torch.float32
        assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
        assert len(out_boxes) == len(out_labels) <= 1
        if len(out_boxes):
            assert out_labels.tolist() == [4]
            assert float(out_boxes.min()) >= 0 and float(out_boxes.max()) <= 128
            x0, y0, x1, y1 = out_boxes[0].round().int().tolist()
            assert float(img[:, y0:y1, x0:x1].mean()) < 0.8  # the box still holds the dark object


def test_a_crop_below_the_input_size_keeps_the_served_scale() -> None:
    """Fitted to 300 px, cropped to 96: objects keep the size they have at a 300 px input."""
    torch.manual_seed(1)
    still = AugmentConfig(hflip=0, vflip=0, rot90=0, scale_prob=0, hue=0, saturation=0, brightness=0,
                          contrast=0, channel_permute=0, noise_prob=0, blur_prob=0)
    transform = TrainTransform(still, size=300, crop=96)
    image, boxes, labels = _parcel()  # 300 px wide: the fit keeps its scale
    seen = 0
    for _ in range(40):
        img, out_boxes, out_labels = transform(image, boxes, labels)
        assert img.shape == (3, 96, 96)
        assert all(0 <= v <= 96 for v in out_boxes.flatten().tolist())
        if len(out_boxes) and (out_boxes[0, 2:] - out_boxes[0, :2]).tolist() == [30, 20]:  # wholly inside
            seen += 1
            x0, y0, x1, y1 = out_boxes[0].int().tolist()
            assert out_labels.tolist() == [4]
            assert float(img[:, y0:y1, x0:x1].mean()) < 0.5  # the window moved with the box
    assert seen >= 3  # the window lands anywhere, not only at the top-left corner


def test_an_object_keeps_its_file_size_between_images_held_at_other_scales() -> None:
    """Remembered from an image cached at half size, laid on one at full size: twice its cached size."""
    torch.manual_seed(0)
    bank = ObjectBank(margin=4)
    image, boxes, labels = _parcel()
    half = cv2.resize(image, (150, 100), interpolation=cv2.INTER_AREA)
    bank.add(half, boxes / 2, labels, scale=0.5)
    target = np.full((200, 300, 3), 255, np.uint8)
    out, out_boxes, _ = bank.overlay(target, np.zeros((0, 4), np.float32), np.zeros(0, np.int64), count=1)
    x0, y0, x1, y1 = out_boxes[0]
    assert (x1 - x0, y1 - y0) == (30, 20)
    assert np.allclose(out[int(y0) + 2:int(y1) - 2, int(x0) + 2:int(x1) - 2].reshape(-1, 3).mean(0),
                       [60, 90, 120], atol=2)


def test_the_cache_decodes_once_at_the_served_scale(tmp_path: Path) -> None:
    image, boxes, labels = _parcel()  # 300 x 200 file
    path = tmp_path / "parcel.png"
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    sample = Sample(path, 300, 200, boxes, labels)
    still = AugmentConfig(hflip=0, vflip=0, rot90=0, scale_prob=0, hue=0, saturation=0, brightness=0,
                          contrast=0, channel_permute=0, noise_prob=0, blur_prob=0, overlay_prob=0)
    dataset = DetectionDataset([sample], 150, TrainTransform(still, 150), cache=True)
    first = dataset[0]
    path.unlink()  # a second epoch reads the cache, not the file
    second = dataset[0]
    cached, scale = dataset.cache[0]
    assert cached.shape == (100, 150, 3) and scale == 0.5
    for img, out_boxes, out_labels, _ in (first, second):
        assert img.shape == (3, 150, 150) and out_labels.tolist() == [4]
        assert out_boxes[0].tolist() == [50, 25, 65, 35]  # the file's box at the served scale
    assert torch.equal(first[0], second[0])


def test_the_dataset_stacks_another_training_parcel_when_asked(tmp_path: Path) -> None:
    samples = []
    for i, label in enumerate((4, 9)):
        image, boxes, labels = _parcel()
        path = tmp_path / f"p{i}.png"
        cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        samples.append(Sample(path, 300, 200, boxes, np.array([label], np.int64)))
    still = AugmentConfig(hflip=0, vflip=0, rot90=0, scale_prob=0, hue=0, saturation=0, brightness=0,
                          contrast=0, channel_permute=0, noise_prob=0, blur_prob=0, overlay_prob=0,
                          parcel_overlay_prob=1.0)
    dataset = DetectionDataset(samples, 300, TrainTransform(still, 300))
    torch.manual_seed(0)
    labels = [sorted(dataset[0][2].tolist()) for _ in range(8)]
    assert all(len(x) == 2 and x[0] == 4 for x in labels)  # its own object and one of the other's
    assert [4, 9] in labels


def test_quarter_turns_match_torchvision_rotate() -> None:
    """The exact kernels give what ``F.rotate(..., expand=True)`` gives, for the image and its boxes."""
    image = tv_tensors.Image(torch.randint(0, 256, (3, 40, 70), dtype=torch.uint8))
    boxes = tv_tensors.BoundingBoxes(torch.tensor([[3.0, 5.0, 20.0, 11.0], [50.5, 0.0, 70.0, 39.5]]),
                                     format="XYXY", canvas_size=(40, 70))
    turn = RandomRot90(1.0)
    for angle in (90, -90):
        img, bb = turn.transform(image, {"angle": angle}), turn.transform(boxes, {"angle": angle})
        assert torch.equal(img, F.rotate(image, angle, expand=True))
        expected = F.rotate(boxes, angle, expand=True)
        assert bb.canvas_size == expected.canvas_size == (70, 40)
        assert torch.allclose(bb.as_subclass(torch.Tensor), expected.as_subclass(torch.Tensor), atol=1e-4)


def test_a_turned_window_smaller_than_the_crop_is_padded_where_the_letterbox_pads() -> None:
    """A 300 x 200 image in a 256 px window: turned, the window is 200 wide, white to its right."""
    torch.manual_seed(0)
    turned = AugmentConfig(hflip=0, vflip=0, rot90=1.0, scale_prob=0, hue=0, saturation=0, brightness=0,
                           contrast=0, channel_permute=0, noise_prob=0, blur_prob=0)
    transform = TrainTransform(turned, size=300, crop=256)
    image, boxes, labels = _parcel()
    for _ in range(10):
        img, out_boxes, out_labels = transform(image, boxes, labels)
        assert img.shape == (3, 256, 256) and bool((img[:, :, 200:] == 1.0).all())
        assert float(img[:, :, :200].min()) < 0.5  # the parcel's dark object is in the window
        assert out_labels.tolist() == [4]
        x0, y0, x1, y1 = out_boxes[0].tolist()
        assert (x1 - x0, y1 - y0) == (20, 30)  # turned: 20 wide, 30 high
        assert float(img[:, int(y0):int(y1), int(x0):int(x1)].mean()) < 0.5
