"""Zoomed crops for the box refiner: the second pass that re-measures a detected herniation's box at a
magnification the whole-slice pass cannot afford.

Why: most synthetic herniations are 3–9 source pixels across, 2–5 pixels at the detector's 256² input, so
half a pixel of error at each edge already costs 0.2–0.3 of IoU (1.2.0's model card: mean IoU 0.76, and 0.85–0.9
only on boxes ≥ 10 px). The pipeline therefore crops the key slice around the detected box and resamples that
crop to the same 256² input, `zoom` times larger than the whole-slice view (ARCHITECTURE.md "Contracts → Model",
manifest `refinement`); the refiner predicts the box there and the pipeline maps it back.

The crop is the pipeline's (server/src/inference/preprocess.ts `preprocessCrop`): a window of (width / zoom) × (height / zoom) source pixels
centred on the box centre is sampled bilinearly at pixel centres, edges clamped, then normalized with the percentiles of the whole slice and clipped. Here the centre is jittered
(the whole-slice pass's box is not exact), the zoom varies ±25 % and the crop may be mirrored.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from dataset import Sample, class_indices, percentile_range


@dataclass
class CropSource:
    image: torch.Tensor  # [1, H, W] stored values (int32: uint16 has no torch type; float16 would round them)
    low: float  # the slice's normalization percentiles
    high: float
    box: torch.Tensor  # [4] source pixels
    classes: list[int]
    key: bool


def load_crop_sources(files: list[Path]) -> list[CropSource]:
    """Every slice with a herniation box: the refiner only ever sees crops around a detection."""
    sources = []
    for npy in files:
        label = json.loads(npy.with_suffix(".json").read_text())
        if not label["herniations"]:
            continue
        first = label["herniations"][0]
        raw = np.load(npy)
        low, high = percentile_range(raw)
        sources.append(
            CropSource(
                image=torch.from_numpy(raw.astype(np.int32))[None],
                low=low,
                high=high,
                box=torch.tensor(first["box"], dtype=torch.float32),
                classes=class_indices(first["grade"], first["zone"]),
                key=bool(label.get("isKeySlice", True)),
            )
        )
    return sources


def crop_batch(
    sources: list[CropSource], size: int, zoom: float, rng: np.random.Generator, jitter: bool = True
) -> tuple[torch.Tensor, list[Sample]]:
    """Crops [N, 1, size, size] and their samples (box in crop input pixels)."""
    images, samples = [], []
    for source in sources:
        _, height, width = source.image.shape
        x0, y0, x1, y1 = source.box.tolist()
        bw, bh = x1 - x0, y1 - y0
        z = zoom * (rng.uniform(0.8, 1.25) if jitter else 1.0)
        # The whole-slice pass's centre error: a quarter of the box plus a pixel and a half, at most.
        dx, dy = (rng.uniform(-0.25, 0.25, 2) * [bw, bh] + rng.uniform(-1.5, 1.5, 2)) if jitter else (0.0, 0.0)
        cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
        flip = -1.0 if jitter and rng.random() < 0.5 else 1.0
        half_w, half_h = width / z / 2, height / z / 2
        # Output pixel (normalized v) samples source coordinate cx + flip·v·half_w (align_corners=False).
        theta = torch.tensor([[flip / z, 0.0, 2 * cx / width - 1], [0.0, 1 / z, 2 * cy / height - 1]], dtype=torch.float32)
        grid = F.affine_grid(theta[None], [1, 1, size, size], align_corners=False)
        crop = F.grid_sample(source.image[None].float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
        # Resample, then normalize and clip, in the pipeline's order.
        span = source.high - source.low if source.high > source.low else 1.0
        images.append(((crop[0] - source.low) / span).clamp(0, 1))

        def to_crop(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return (flip * (x - cx) / half_w + 1) * size / 2, ((y - cy) / half_h + 1) * size / 2

        bx0, by0 = to_crop(source.box[0], source.box[1])
        bx1, by1 = to_crop(source.box[2], source.box[3])
        box = torch.stack([torch.minimum(bx0, bx1), by0, torch.maximum(bx0, bx1), by1])[None]
        # No facet targets: the facets often lie outside the crop, and the pipeline reads only the refined box.
        samples.append(Sample(images[-1], box, [source.classes], None, source.key))
    return torch.stack(images), samples
