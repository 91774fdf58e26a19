"""Training slices from the synthetic generator's dataset output, with the pipeline's own preprocessing and
geometric + intensity augmentation.

Layout read (written by `npm run synth -- --dataset`): one `<id>.npy` (2-D modality values) beside one
`<id>.json` per slice: {"herniations": [{"grade": 1-3, "zone": "A"|"B"|"C"|"AB"|"BC", "box": [x0, y0, x1, y1]}],
"intraFacetLine": [[x, y], [x, y]] | null, "isKeySlice": bool} in pixels of the slice. `isKeySlice` marks the
level's key slice (largest herniation, where the truth is measured); older sets without it count every slice as key.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

ZONE_INDEX = {"A": 0, "B": 1, "C": 2}
SPANNING = {"AB": ("A", "B"), "BC": ("B", "C")}


def class_indices(grade: int, zone: str) -> list[int]:
    """Multi-label targets: a spanning zone sets both adjacent zone classes of its grade."""
    zones = SPANNING.get(zone, (zone,))
    return [(grade - 1) * 3 + ZONE_INDEX[z] for z in zones]


def percentile_range(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> tuple[float, float]:
    """As server/src/inference/preprocess.ts `percentileRange`: nearest-rank percentiles over the slice's pixels."""
    flat = np.sort(image.astype(np.float32).ravel())
    at = lambda p: flat[min(len(flat) - 1, max(0, int(round(p / 100 * (len(flat) - 1)))))]
    return float(at(low)), float(at(high))


def percentile_normalize(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """(v − P_low) / (P_high − P_low), clipped to [0, 1]. The whole-slice loader normalizes before resampling, the
    pipeline after; they differ only beside pixels above P_high, and 1.0.0–1.2.0 were trained this way."""
    lo, hi = percentile_range(image, low, high)
    span = hi - lo if hi > lo else 1.0
    return np.clip((image.astype(np.float32) - lo) / span, 0.0, 1.0)


@dataclass
class Sample:
    image: torch.Tensor  # [1, S, S] in [0, 1]
    boxes: torch.Tensor  # [M, 4] input pixels
    classes: list[list[int]]
    facets: torch.Tensor | None  # [2, 2] input pixels, image-left first
    key: bool = True  # the level's key slice (the eval's truth box and class are measured there)


def load_sample(npy: Path, size: int) -> Sample:
    raw = np.load(npy)
    label = json.loads(npy.with_suffix(".json").read_text())
    h, w = raw.shape
    normalized = torch.from_numpy(percentile_normalize(raw))[None, None]
    # Bilinear with pixel-centre alignment, as the pipeline resamples (align_corners=False).
    image = F.interpolate(normalized, size=(size, size), mode="bilinear", align_corners=False)[0]
    sx, sy = size / w, size / h
    boxes = torch.tensor(
        [[b["box"][0] * sx, b["box"][1] * sy, b["box"][2] * sx, b["box"][3] * sy] for b in label["herniations"]],
        dtype=torch.float32,
    ).reshape(-1, 4)
    classes = [class_indices(b["grade"], b["zone"]) for b in label["herniations"]]
    line = label.get("intraFacetLine")
    facets = None
    if line:
        facets = torch.tensor([[p[0] * sx, p[1] * sy] for p in sorted(line, key=lambda p: p[0])], dtype=torch.float32)
    return Sample(image, boxes, classes, facets, bool(label.get("isKeySlice", True)))


def _map_points(points: torch.Tensor, inverse: torch.Tensor, size: int) -> torch.Tensor:
    """Input pixel coordinates → output pixel coordinates under the inverse of the sampling transform."""
    u = points / size * 2 - 1
    mapped = u @ inverse[:2, :2].T + inverse[:2, 2]
    return (mapped + 1) / 2 * size


def augment_batch(
    images: torch.Tensor, samples: list[Sample], rng: np.random.Generator, rotate_degrees: float = 0.0
) -> tuple[torch.Tensor, list[Sample]]:
    """Geometric then intensity augmentation, one call per batch.

    Geometry: scale 0.9–1.15, shift ±8 %, left-right flip, and rotation only when `rotate_degrees` > 0. Version
    1.0.0 rotated ±10° and approximated the rotated herniation's box, which inflated box targets by up to 8 % —
    a bias the eval's IoU on 3–10 px boxes cannot afford; the generator already rotates the patient (±10°) and
    tilts each stack, so 1.1.0 keeps the axis-aligned warps, whose box targets are exact.

    Intensity, aimed at acquisitions never trained on (3 T: darker fat and marrow relative to CSF; low SNR;
    other matrices): a random monotone tone curve (moves mid-grey tissues against each other and against CSF),
    gamma, gain, a linear bias field, blur or a down-and-up resampling (another matrix's PSF), and Rician noise
    (magnitude of a complex signal with Gaussian noise on both channels) up to σ = 0.09."""
    n, _, size, _ = images.shape
    thetas, out_samples = [], []
    for sample in samples:
        angle = math.radians(rng.uniform(-rotate_degrees, rotate_degrees)) if rotate_degrees > 0 else 0.0
        scale = rng.uniform(0.9, 1.15)
        tx, ty = rng.uniform(-0.08, 0.08, size=2)
        fx = -1.0 if rng.random() < 0.5 else 1.0
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        # Output coordinate u samples the input at A·u + t (normalized coordinates, align_corners=False).
        theta = torch.tensor([[cos * fx, -sin, tx], [sin * fx, cos, ty]], dtype=torch.float32)
        thetas.append(theta)
        inverse = torch.linalg.inv(torch.cat([theta, torch.tensor([[0.0, 0.0, 1.0]])]))
        boxes = sample.boxes
        if len(boxes):
            corners = torch.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], 1)
            mapped = _map_points(corners.reshape(-1, 2), inverse, size).reshape(-1, 4, 2)
            lo, hi = mapped.min(1).values, mapped.max(1).values
            # Exact without rotation. With rotation, the box of a rotated box grows by |cos| + |sin|; a compact
            # herniation's true box grows about half as much, so shrink the half-extent back by its square root.
            centre, half = (lo + hi) / 2, (hi - lo) / 2 / math.sqrt(abs(math.cos(angle)) + abs(math.sin(angle)))
            boxes = torch.cat([centre - half, centre + half], 1)
        facets = None
        if sample.facets is not None:
            facets = _map_points(sample.facets, inverse, size)
            facets = facets[facets[:, 0].argsort()]
        out_samples.append(Sample(sample.image, boxes, sample.classes, facets, sample.key))
    grid = F.affine_grid(torch.stack(thetas), [n, 1, size, size], align_corners=False)
    images = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False).clamp(0, 1)
    return augment_intensity(images, rng), out_samples


def augment_intensity(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """The intensity half of `augment_batch` (its docstring says why each step is there), [N, 1, S, S] in [0, 1]."""
    n, _, size, _ = images.shape
    # Monotone tone curve: piecewise linear through (0, 0), three jittered knots and (1, 1).
    knots_x = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    jitter = rng.uniform(-0.08, 0.08, size=(n, 3)).astype(np.float32)
    apply_curve = rng.random(n) < 0.7
    for i in range(n):
        if not apply_curve[i]:
            continue
        knots_y = torch.cat([torch.zeros(1), torch.from_numpy(np.sort(knots_x[1:4].numpy() + jitter[i])), torch.ones(1)])
        x = images[i]
        segment = (x * 4).floor().clamp(0, 3).long()
        x0, y0, y1 = knots_x[segment], knots_y[segment], knots_y[segment + 1]
        images[i] = y0 + (x - x0) * 4 * (y1 - y0)
    gamma = torch.from_numpy(rng.uniform(0.7, 1.5, size=(n, 1, 1, 1)).astype(np.float32))
    gain = torch.from_numpy(rng.uniform(0.85, 1.15, size=(n, 1, 1, 1)).astype(np.float32))
    images = images.clamp(0, 1) ** gamma * gain
    ramp = torch.linspace(-1, 1, size)
    bias_x = torch.from_numpy(rng.uniform(-0.15, 0.15, size=(n, 1, 1, 1)).astype(np.float32))
    bias_y = torch.from_numpy(rng.uniform(-0.15, 0.15, size=(n, 1, 1, 1)).astype(np.float32))
    images = images * (1 + bias_x * ramp.view(1, 1, 1, size) + bias_y * ramp.view(1, 1, size, 1))
    smoothing = rng.random(n)
    blur = torch.from_numpy(smoothing < 0.2)
    if blur.any():
        images[blur] = F.avg_pool2d(images[blur], 3, 1, 1)
    resample = torch.from_numpy((smoothing >= 0.2) & (smoothing < 0.4))
    if resample.any():
        factor = float(rng.uniform(0.6, 0.9))
        low = F.interpolate(images[resample], scale_factor=factor, mode="bilinear", align_corners=False)
        images[resample] = F.interpolate(low, size=(size, size), mode="bilinear", align_corners=False)
    sigma = torch.from_numpy((rng.uniform(0, 0.3, size=(n, 1, 1, 1)) ** 2).astype(np.float32))  # up to 0.09, mostly low
    noise = torch.randn((2, *images.shape), generator=torch.Generator().manual_seed(int(rng.integers(2**31))))
    images = torch.sqrt((images + sigma * noise[0]) ** 2 + (sigma * noise[1]) ** 2)
    return images.clamp(0, 1.2)


class SliceDataset(torch.utils.data.Dataset):
    def __init__(self, files: list[Path], size: int) -> None:
        self.samples = [load_sample(f, size) for f in files]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        return self.samples[index]


def collate(batch: list[Sample]) -> tuple[torch.Tensor, list[Sample]]:
    return torch.stack([s.image for s in batch]), batch
