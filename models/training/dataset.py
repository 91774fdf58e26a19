"""Training slices from the synthetic generator's dataset output, with the pipeline's own preprocessing and
geometric + intensity augmentation.

Layout read (written by `npm run synth -- --dataset`): one `<id>.npy` (2-D modality values) beside one
`<id>.json` per slice: {"herniations": [{"grade": 1-3, "zone": "A"|"B"|"C"|"AB"|"BC", "box": [x0, y0, x1, y1]}],
"intraFacetLine": [[x, y], [x, y]] | null} in pixels of the slice.
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


def percentile_normalize(image: np.ndarray, low: float = 1.0, high: float = 99.0) -> np.ndarray:
    """As server/src/inference/preprocess.ts: (v − P_low) / (P_high − P_low), clipped to [0, 1]; nearest-rank
    percentiles over the slice's pixels."""
    flat = np.sort(image.astype(np.float32).ravel())
    at = lambda p: flat[min(len(flat) - 1, max(0, int(round(p / 100 * (len(flat) - 1)))))]
    lo, hi = float(at(low)), float(at(high))
    span = hi - lo if hi > lo else 1.0
    return np.clip((image.astype(np.float32) - lo) / span, 0.0, 1.0)


@dataclass
class Sample:
    image: torch.Tensor  # [1, S, S] in [0, 1]
    boxes: torch.Tensor  # [M, 4] input pixels
    classes: list[list[int]]
    facets: torch.Tensor | None  # [2, 2] input pixels, image-left first


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
    return Sample(image, boxes, classes, facets)


def augment(sample: Sample, rng: np.random.Generator) -> Sample:
    """Rotation ±10°, scale 0.9–1.15, shift ±8 %, left-right flip; gamma, gain, bias field, noise, blur."""
    image, boxes, facets = sample.image, sample.boxes.clone(), None if sample.facets is None else sample.facets.clone()
    size = image.shape[-1]
    angle = math.radians(rng.uniform(-10, 10))
    scale = rng.uniform(0.9, 1.15)
    tx, ty = rng.uniform(-0.08, 0.08, size=2)
    flip = rng.random() < 0.5
    # Output pixel p (normalized coords u) samples input at A·u + t; forward map for labels is its inverse.
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    fx = -1.0 if flip else 1.0
    theta = torch.tensor([[cos * fx, -sin, tx], [sin * fx, cos, ty]], dtype=torch.float32)
    grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)
    image = F.grid_sample(image[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]

    inverse = torch.linalg.inv(torch.cat([theta, torch.tensor([[0.0, 0.0, 1.0]])]))

    def forward_points(points: torch.Tensor) -> torch.Tensor:
        u = (points + 0.0) / size * 2 - 1
        homogeneous = torch.cat([u, torch.ones(len(u), 1)], 1)
        mapped = (inverse @ homogeneous.T).T[:, :2]
        return (mapped + 1) / 2 * size

    if len(boxes):
        corners = torch.stack(
            [boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]], boxes[:, [2, 3]]], 1
        ).reshape(-1, 2)
        mapped = forward_points(corners).reshape(-1, 4, 2)
        # The AABB of a rotated box grows; shrink it back toward the original area (herniations are compact).
        lo, hi = mapped.min(1).values, mapped.max(1).values
        centre, half = (lo + hi) / 2, (hi - lo) / 2
        shrink = 1.0 / (abs(math.cos(angle)) + abs(math.sin(angle)))
        boxes = torch.cat([centre - half * shrink ** 0.5, centre + half * shrink ** 0.5], 1)
    if facets is not None:
        facets = forward_points(facets)
        facets = facets[facets[:, 0].argsort()]

    gamma = rng.uniform(0.7, 1.5)
    image = image.clamp(0, 1) ** gamma * rng.uniform(0.85, 1.15)
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    bias = 1 + rng.uniform(-0.15, 0.15) * xx + rng.uniform(-0.15, 0.15) * yy
    image = image * bias[None]
    if rng.random() < 0.3:
        image = F.avg_pool2d(image[None], 3, 1, 1)[0]
    image = image + torch.from_numpy(rng.normal(0, rng.uniform(0, 0.04), size=image.shape).astype(np.float32))
    return Sample(image.clamp(0, 1.2), boxes, sample.classes, facets)


class SliceDataset(torch.utils.data.Dataset):
    def __init__(self, files: list[Path], size: int, train: bool, seed: int) -> None:
        self.samples = [load_sample(f, size) for f in files]
        self.train = train
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> Sample:
        sample = self.samples[index]
        if not self.train:
            return sample
        rng = np.random.default_rng([self.seed, self.epoch, index])
        return augment(sample, rng)


def collate(batch: list[Sample]) -> tuple[torch.Tensor, list[Sample]]:
    return torch.stack([s.image for s in batch]), batch
