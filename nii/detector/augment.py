"""Image loading and training augmentation as a torch Dataset (validation uses the serving letterbox).

Every image ends as Tensor[3, S, S] float32 RGB in [0, 1]: resized so its long side is S (times a
random scale in training), placed at the top-left (a random place in training), padded with 1.0
(white, the X-ray background). Boxes follow every step; flips and quarter turns move them as
``tv_tensors.BoundingBoxes``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset as TorchDataset
from torchvision import tv_tensors
from torchvision.ops import box_area
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from nii.datasets import Sample
from nii.detector.config import AugmentConfig
from nii.errors import DatasetError
from nii.runtime.card import InputSpec
from nii.runtime.preprocess import fit, letterbox

MIN_BOX_PX = 2.0  # boxes narrower or lower than this after augmentation are dropped
MIN_VISIBLE = 0.4  # a cropped box is kept when at least this share of its area stays visible
OVERLAY_MARGIN = 8  # px (decoded image) kept around an overlaid object, faded to no effect at its edge
OVERLAY_BANK = 32  # objects remembered per class for overlay
NOISE_BANK = 4 * 2**20  # standard normals drawn once per transform and read at random offsets

cv2.setNumThreads(1)


def read_rgb(path: str) -> np.ndarray:
    """Decode an image file to uint8 RGB [H, W, 3] with OpenCV."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f"cannot decode image {path}: missing, unreadable or not an image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class RandomRot90(v2.Transform):
    """Rotate an image and XYXY boxes by +90 or -90 degrees with probability p (exact, no interpolation).

    As ``F.rotate(..., expand=True)`` (positive: counter-clockwise), with exact kernels: the generic
    rotation maps boxes through an affine transform, ~1 ms a call, a sixth of the loader's time.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def make_params(self, flat_inputs: list) -> dict:
        apply = torch.rand(1).item() < self.p
        return {"angle": (90 if torch.rand(1).item() < 0.5 else -90) if apply else 0}

    def transform(self, inpt: object, params: dict) -> object:
        angle = params["angle"]
        if angle == 0:
            return inpt
        if isinstance(inpt, tv_tensors.BoundingBoxes):
            h, w = inpt.canvas_size
            x0, y0, x1, y1 = inpt.as_subclass(Tensor).unbind(-1)
            # +90: (x, y) -> (y, w - x); -90: (x, y) -> (h - y, x)
            out = torch.stack((y0, w - x1, y1, w - x0) if angle == 90 else (h - y1, x0, h - y0, x1), -1)
            return tv_tensors.wrap(out, like=inpt, canvas_size=(w, h))
        turned = torch.rot90(inpt.as_subclass(Tensor), 1 if angle == 90 else -1, dims=(-2, -1))
        return tv_tensors.wrap(turned, like=inpt) if isinstance(inpt, tv_tensors.TVTensor) else turned


class TrainTransform:
    """Augment one image (uint8 RGB [H, W, 3], xyxy float32 [N, 4] pixels, class ids int64 [N]).

    Returns (Tensor[3, C, C] float32, boxes Tensor[M, 4] xyxy input pixels, labels Tensor[M] int64).
    Scales refer to the letterbox fit at ``size`` (the served input); ``crop`` C (default ``size``) is
    the window trained on. A crop below ``size`` keeps objects at the scale the model serves them at
    while a step costs only C x C: small objects (bullets, batteries) get the pixels of a larger input.
    """

    def __init__(self, cfg: AugmentConfig, size: int, crop: int | None = None) -> None:
        self.cfg, self.size, self.crop = cfg, size, crop or size
        self.geometry = v2.Compose([v2.RandomHorizontalFlip(cfg.hflip), v2.RandomVerticalFlip(cfg.vflip),
                                    RandomRot90(cfg.rot90)])
        # Hue, saturation, brightness and contrast go through uint8 lookup tables (_colour_jitter): torch's
        # ColorJitter costs ~50 ms an image on this CPU, the tables ~2 ms.
        self.colour = v2.RandomApply([v2.RandomChannelPermutation()], p=cfg.channel_permute)
        self._noise: Tensor | None = None

    def _uniform(self, lo: float, hi: float) -> float:
        return lo + (hi - lo) * torch.rand(1).item()

    def _colour_jitter(self, image: np.ndarray) -> np.ndarray:
        """Hue shift, saturation, brightness and contrast of uint8 RGB [H, W, 3]; white stays white."""
        cfg, levels = self.cfg, np.arange(256, dtype=np.float32)
        if cfg.hue > 0 or cfg.saturation > 0:
            shift = self._uniform(-cfg.hue, cfg.hue) * 180  # OpenCV hue runs over 0..179
            gain = self._uniform(1 - cfg.saturation, 1 + cfg.saturation)
            lut_h = np.mod(levels + shift, 180).astype(np.uint8)
            lut_s = np.clip(levels * gain, 0, 255).astype(np.uint8)
            h, s, v = cv2.split(cv2.cvtColor(image, cv2.COLOR_RGB2HSV))
            image = cv2.cvtColor(cv2.merge((cv2.LUT(h, lut_h), cv2.LUT(s, lut_s), v)), cv2.COLOR_HSV2RGB)
        if cfg.brightness > 0 or cfg.contrast > 0:
            # Scanner gain: scale the darkness (255 - x) and bend it with a gamma; both keep white at 255.
            gain = self._uniform(1 - cfg.brightness, 1 + cfg.brightness)
            gamma = self._uniform(1 - cfg.contrast, 1 + cfg.contrast)
            darkness = np.clip((255 - levels) * gain, 0, 255) / 255
            image = cv2.LUT(image, (255 - 255 * darkness**gamma).round().astype(np.uint8))
        return image

    def _noise_like(self, img: Tensor) -> Tensor:
        """Unit normals shaped like ``img``, read at a random offset of a bank drawn once: fresh draws
        for a 384 px window cost ~9 ms, a third of the loader's time per image."""
        if self._noise is None or self._noise.numel() < img.numel() * 2:
            self._noise = torch.randn(max(NOISE_BANK, img.numel() * 4))
        start = int(torch.randint(0, self._noise.numel() - img.numel() + 1, ()).item())
        return self._noise[start : start + img.numel()].view_as(img)

    def __call__(self, image: np.ndarray, xyxy: np.ndarray,
                 labels: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        cfg, size, crop = self.cfg, self.size, self.crop
        h, w = image.shape[:2]
        random_place = torch.rand(1).item() < cfg.scale_prob
        scale = size / max(h, w) * (self._uniform(cfg.scale_min, cfg.scale_max) if random_place else 1.0)
        nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
        if not random_place:
            nw, nh = min(nw, size), min(nh, size)
        if (nw, nh) != (w, h):
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            image = cv2.resize(image, (nw, nh), interpolation=interpolation)
        boxes = torch.from_numpy(xyxy * np.array([nw / w, nh / h, nw / w, nh / h], dtype=np.float32))

        # The window first, so that every later step works on C x C pixels at most. Flips and quarter
        # turns after it give what they would before it: the window keeps its size under a quarter turn
        # (min(h, C) x min(w, C) either way), and a uniform place maps to a uniform place. A window is
        # only ever cut at a random place (anywhere): a plain letterbox that fits stays whole.
        anywhere = random_place or crop < size
        top = int(torch.randint(0, nh - crop + 1, ()).item()) if anywhere and nh > crop else 0
        left = int(torch.randint(0, nw - crop + 1, ()).item()) if anywhere and nw > crop else 0
        ch, cw = min(nh, crop), min(nw, crop)
        image = image[top:top + ch, left:left + cw]
        area = box_area(boxes)
        boxes = (boxes - torch.tensor([left, top] * 2, dtype=torch.float32)).clamp(
            torch.zeros(4), torch.tensor([cw, ch] * 2, dtype=torch.float32))
        visible = box_area(boxes) >= MIN_VISIBLE * area

        image = self._colour_jitter(np.ascontiguousarray(image))
        if torch.rand(1).item() < cfg.blur_prob:  # OpenCV on uint8: ~20x cheaper than a float conv in torch
            image = cv2.GaussianBlur(image, (5, 5), self._uniform(0.1, 1.2))
        img = tv_tensors.Image(torch.from_numpy(image).permute(2, 0, 1))
        bb = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(ch, cw))
        img, bb = self.geometry(img, bb)
        img = self.colour(img)

        # Onto the C x C canvas, white where the window is smaller: at a random place, or top-left as
        # the serving letterbox puts it.
        ch, cw = img.shape[-2:]
        pad_top = int(torch.randint(0, crop - ch + 1, ()).item()) if random_place else 0
        pad_left = int(torch.randint(0, crop - cw + 1, ()).item()) if random_place else 0
        canvas = torch.ones(3, crop, crop)
        canvas[:, pad_top:pad_top + ch, pad_left:pad_left + cw] = F.to_dtype(img, torch.float32, scale=True)
        if torch.rand(1).item() < cfg.noise_prob and cfg.noise_sigma > 0:
            sigma = self._uniform(0.0, cfg.noise_sigma)
            canvas = (canvas + self._noise_like(canvas) * sigma).clamp_(0.0, 1.0)
        out = bb.as_subclass(Tensor) + torch.tensor([pad_left, pad_top] * 2, dtype=torch.float32)
        keep = visible & (out[:, 2] - out[:, 0] >= MIN_BOX_PX) & (out[:, 3] - out[:, 1] >= MIN_BOX_PX)
        return canvas, out[keep], torch.from_numpy(labels)[keep]


@dataclass
class _Remembered:
    """An object of the bank: its pixels with the margin, its box in them, its image's scale."""

    pixels: np.ndarray
    inner: np.ndarray
    scale: float
    darkness: np.ndarray | None = None


class ObjectBank:
    """Objects from recently read training images, per class, to overlay on later ones.

    X-ray transmission through stacked objects multiplies, so an object laid over a parcel is the
    product of the two images (white, transmission 1, changes nothing). Overlaying objects cut from
    other training images adds labelled objects per image at the cost of one multiply: more to learn
    from per forward pass, in the clutter and overlap real parcels have. It works on the decoded
    images before augmentation, so palette, scale and flips treat the overlaid objects like the rest.
    Classes are drawn uniformly, which also lifts the rare ones. The surroundings kept around an
    object are divided out and faded, so no crop edge is left for the detector to key on.
    """

    def __init__(self, per_class: int = OVERLAY_BANK, margin: int = OVERLAY_MARGIN) -> None:
        self.per_class, self.margin = per_class, margin
        self.crops: dict[int, deque[_Remembered]] = {}

    def add(self, image: np.ndarray, xyxy: np.ndarray, class_ids: np.ndarray, scale: float = 1.0) -> None:
        """Remember the objects of a decoded image (uint8 RGB [H, W, 3], xyxy pixels, class ids);
        ``scale`` is the image's size relative to its file (below 1 for a cached, reduced image)."""
        h, w = image.shape[:2]
        m = self.margin
        for box, label in zip(xyxy.tolist(), class_ids.tolist(), strict=True):
            x0, y0 = max(0, int(box[0]) - m), max(0, int(box[1]) - m)
            x1, y1 = min(w, int(np.ceil(box[2])) + m), min(h, int(np.ceil(box[3])) + m)
            if x1 - x0 < 4 or y1 - y0 < 4:
                continue
            inner = np.array([box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0], dtype=np.float32)
            remembered = _Remembered(image[y0:y1, x0:x1].copy(), inner, scale)
            self.crops.setdefault(int(label), deque(maxlen=self.per_class)).append(remembered)

    def _darkness(self, item: _Remembered) -> np.ndarray:
        """1 - transmission of a remembered object, faded over the margin: worked out when first laid on
        (about 40% of the objects remembered are drawn before newer ones push them out)."""
        if item.darkness is not None:
            return item.darkness
        m, inner = self.margin, item.inner
        ys, xs = np.arange(item.pixels.shape[0]) + 0.5, np.arange(item.pixels.shape[1]) + 0.5
        fy = np.clip(np.minimum(ys - inner[1] + m, inner[3] + m - ys) / m, 0, 1)
        fx = np.clip(np.minimum(xs - inner[0] + m, inner[2] + m - xs) / m, 0, 1)
        fade = fy[:, None] * fx[None, :]
        transmission = item.pixels.astype(np.float32) / 255
        # Divide out what lay around the object (bag, clothes: the brighter part of the margin), so
        # the overlay carries the object and not a tinted rectangle of its old parcel.
        ring = transmission[fade < 1]
        if len(ring):
            transmission = np.minimum(transmission / np.maximum(np.percentile(ring, 75, axis=0), 0.05), 1)
        item.darkness = ((1 - transmission) * fade[..., None]).astype(np.float32)
        return item.darkness

    def overlay(self, image: np.ndarray, xyxy: np.ndarray, class_ids: np.ndarray, count: int,
                scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Multiply up to ``count`` remembered objects onto a copy of ``image`` (its ``scale`` as in
        ``add``: objects are resized so they keep their size in file pixels); boxes appended."""
        classes = [c for c, q in self.crops.items() if q]
        h, w = image.shape[:2]
        out, boxes, labels = None, [xyxy.reshape(-1, 4)], [class_ids]
        for _ in range(count if classes else 0):
            label = classes[int(torch.randint(len(classes), ()).item())]
            queue = self.crops[label]
            item = queue[int(torch.randint(len(queue), ()).item())]
            darkness, inner, source = self._darkness(item), item.inner, item.scale
            if source != scale:
                f = scale / source
                size = (max(1, round(darkness.shape[1] * f)), max(1, round(darkness.shape[0] * f)))
                darkness, inner = cv2.resize(darkness, size, interpolation=cv2.INTER_AREA), inner * f
            ch, cw = darkness.shape[:2]
            if ch >= h or cw >= w:
                continue
            if out is None:
                out = image.copy()
            y, x = int(torch.randint(h - ch + 1, ()).item()), int(torch.randint(w - cw + 1, ()).item())
            region = out[y:y + ch, x:x + cw]  # only the object's pixels go through float
            region[:] = (region * (1 - darkness)).round()
            boxes.append(inner[None] + np.array([x, y, x, y], dtype=np.float32))
            labels.append(np.array([label], dtype=class_ids.dtype))
        if out is None:
            return image, xyxy, class_ids
        return out, np.concatenate(boxes).astype(np.float32), np.concatenate(labels)


def overlay_parcel(
    image: np.ndarray, xyxy: np.ndarray, class_ids: np.ndarray,
    other: np.ndarray, other_xyxy: np.ndarray, other_ids: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multiply ``other`` (another decoded parcel, flipped at random) onto ``image``, centre on centre
    give or take 15% of the frame; its boxes that stay >= MIN_VISIBLE visible are added.

    Real bags are fuller than one synthetic parcel (foreground share 0.42 on SIXray against 0.27):
    stacking two parcels' transmissions doubles the clutter and overlap around every object.
    """
    h, w = image.shape[:2]
    oh, ow = other.shape[:2]
    other_xyxy = other_xyxy.reshape(-1, 4).copy()
    if torch.rand(1).item() < 0.5:
        other, other_xyxy[:, [0, 2]] = other[:, ::-1], ow - other_xyxy[:, [2, 0]]
    if torch.rand(1).item() < 0.5:
        other, other_xyxy[:, [1, 3]] = other[::-1], oh - other_xyxy[:, [3, 1]]
    # Centres within 15% of the frame of each other: one fuller bag rather than two bags side by side.
    x = (w - ow) // 2 + int(torch.randint(-(w * 15 // 100), w * 15 // 100 + 1, ()).item())
    y = (h - oh) // 2 + int(torch.randint(-(h * 15 // 100), h * 15 // 100 + 1, ()).item())
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + ow), min(h, y + oh)
    if x1 <= x0 or y1 <= y0:
        return image, xyxy, class_ids
    out = image.astype(np.float32)
    out[y0:y1, x0:x1] *= other[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32) / 255
    moved = other_xyxy + np.array([x, y, x, y], dtype=np.float32)
    clipped = np.clip(moved, [x0, y0, x0, y0], [x1, y1, x1, y1])
    keep = (box_area(torch.from_numpy(clipped)) >= MIN_VISIBLE * box_area(torch.from_numpy(moved))).numpy()
    boxes = np.concatenate([xyxy.reshape(-1, 4), clipped[keep]]).astype(np.float32)
    return out.round().astype(np.uint8), boxes, np.concatenate([class_ids, other_ids[keep]])


class DetectionDataset(TorchDataset):
    """``nii.datasets`` samples as tensors; ``transform`` None means a plain letterbox (validation).

    Item: (image Tensor[3, S, S], boxes Tensor[M, 4] xyxy input pixels, labels Tensor[M] int64, index).
    """

    def __init__(self, samples: Sequence[Sample], size: int, transform: TrainTransform | None = None,
                 cache: bool = False) -> None:
        self.samples, self.size, self.transform = list(samples), size, transform
        self.spec = InputSpec(size=size)
        self.bank = ObjectBank()  # one per loader worker: each worker fills its own copy
        # Training images decoded once and kept at the served scale (long side <= size; windows zoomed
        # in are upsampled from it): decoding a PNG and reducing it cost ~12 ms, 40% of the loader's time.
        self.cache: dict[int, tuple[np.ndarray, float]] | None = None
        if cache and transform is not None:
            self.cache = {}

    def __len__(self) -> int:
        return len(self.samples)

    def _decoded(self, index: int) -> tuple[np.ndarray, float]:
        """The image and its size relative to the file (below 1 when cached reduced)."""
        if self.cache is not None and index in self.cache:
            return self.cache[index]
        image, scale = read_rgb(str(self.samples[index].image_path)), 1.0
        if self.cache is not None:
            if max(image.shape[:2]) > self.size:  # reduced as serving reduces it; never enlarged
                image, (scale, _) = fit(image, self.size)
            self.cache[index] = image, scale
        return image, scale

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, int]:
        s = self.samples[index]
        image, scale = self._decoded(index)
        if self.transform is not None:
            xyxy, class_ids, cfg = s.xyxy * np.float32(scale), s.class_ids, self.transform.cfg
            if cfg.overlay_prob > 0:
                self.bank.add(image, xyxy, class_ids, scale)
            if cfg.parcel_overlay_prob > 0 and torch.rand(1).item() < cfg.parcel_overlay_prob:
                j = int(torch.randint(len(self.samples), ()).item())
                other, other_scale = self._decoded(j)
                image, xyxy, class_ids = overlay_parcel(image, xyxy, class_ids, other,
                                                        self.samples[j].xyxy * np.float32(other_scale),
                                                        self.samples[j].class_ids)
            if cfg.overlay_prob > 0 and torch.rand(1).item() < cfg.overlay_prob:
                count = int(torch.randint(1, cfg.overlay_max + 1, ()).item())
                image, xyxy, class_ids = self.bank.overlay(image, xyxy, class_ids, count, scale)
            img, boxes, labels = self.transform(image, xyxy, class_ids)
            return img, boxes, labels, index
        # The serving letterbox itself, so validation sees exactly what ONNX Runtime will see.
        tensor, (sx, sy) = letterbox(image, self.spec)
        boxes = s.xyxy * np.array([sx, sy, sx, sy], dtype=np.float32)
        return torch.from_numpy(tensor), torch.from_numpy(boxes), torch.from_numpy(s.class_ids), index


def collate(batch: list[tuple[Tensor, Tensor, Tensor, int]]) -> dict[str, Tensor]:
    """Stack images and pad boxes.

    Returns images [B,3,S,S], gt_xyxy [B,G,4], gt_labels [B,G], gt_mask [B,G] (real boxes), index [B].
    """
    g = max((len(b[1]) for b in batch), default=0)
    n = len(batch)
    gt_xyxy, gt_labels = torch.zeros(n, g, 4), torch.zeros(n, g, dtype=torch.int64)
    gt_mask = torch.zeros(n, g, dtype=torch.bool)
    for i, (_, boxes, labels, _) in enumerate(batch):
        gt_xyxy[i, : len(boxes)], gt_labels[i, : len(labels)], gt_mask[i, : len(boxes)] = boxes, labels, True
    return {"images": torch.stack([b[0] for b in batch]), "gt_xyxy": gt_xyxy, "gt_labels": gt_labels,
            "gt_mask": gt_mask, "index": torch.tensor([b[3] for b in batch])}
