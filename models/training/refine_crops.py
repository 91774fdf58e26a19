"""Zoomed crops for the box refiner: the second pass that re-measures a detected herniation's box at a
magnification the whole-slice pass cannot afford.

Why: most synthetic herniations are 3–9 source pixels across, 2–5 pixels at the detector's 256² input, so
half a pixel of error at each edge already costs 0.2–0.3 of IoU (msu-ldh 1.2.0: mean IoU 0.76, and 0.85–0.9
only on boxes ≥ 10 px). The pipeline therefore crops the key slice around the detected box and resamples that
crop to the same 256² input, `zoom` times larger than the whole-slice view (docs/architecture.md §The model contract,
manifest `refinement`); the refiner predicts the box there and the pipeline maps it back.

With `negatives`, the same crops train the candidate verifier (manifest `verification`): it re-scores every
candidate of a level, herniated or not, so it must also learn what a zoomed crop without a herniation looks like.
Negative crops come from slices without one, centred where herniations sit: the facet-line midpoint plus a
herniation's offset from it (drawn from the training herniations, in facet-line lengths, mirrored at random).

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
    box: torch.Tensor | None  # [4] source pixels; None for a negative crop
    classes: list[int]
    key: bool
    facet_line: np.ndarray | None = None  # [2, 2] source pixels, for placing a negative crop


def load_crop_sources(
    files: list[Path], negatives: int = 0, rng: np.random.Generator | None = None
) -> tuple[list[CropSource], np.ndarray]:
    """Every slice with a herniation box, plus `negatives` slices without one (drawn with `rng`), and the
    herniations' centre offsets from the facet-line midpoint in facet-line lengths ([M, 2]: where negatives go)."""
    sources, empty, offsets = [], [], []
    for npy in files:
        label = json.loads(npy.with_suffix(".json").read_text())
        facet_line = np.array(label["intraFacetLine"], dtype=np.float64) if label.get("intraFacetLine") else None
        if not label["herniations"]:
            if facet_line is not None:
                empty.append((npy, facet_line))
            continue
        first = label["herniations"][0]
        if facet_line is not None:
            offsets.append(_centre_offset(first["box"], facet_line))
        sources.append(_crop_source(npy, torch.tensor(first["box"], dtype=torch.float32), first["grade"], first["zone"], label))
    if negatives > 0 and empty:
        picks = (rng or np.random.default_rng(0)).choice(len(empty), size=min(negatives, len(empty)), replace=False)
        for i in sorted(picks):
            npy, facet_line = empty[i]
            sources.append(_crop_source(npy, None, None, None, {}, facet_line))
    return sources, np.array(offsets, dtype=np.float64).reshape(-1, 2)


def _centre_offset(box: list[float], facet_line: np.ndarray) -> tuple[float, float]:
    mid, length = facet_line.mean(0), max(1e-6, float(np.linalg.norm(facet_line[1] - facet_line[0])))
    return (float((box[0] + box[2]) / 2 - mid[0]) / length, float((box[1] + box[3]) / 2 - mid[1]) / length)


def _crop_source(npy: Path, box, grade, zone, label: dict, facet_line: np.ndarray | None = None) -> CropSource:
    raw = np.load(npy)
    low, high = percentile_range(raw)
    return CropSource(
        image=torch.from_numpy(raw.astype(np.int32))[None],
        low=low,
        high=high,
        box=box,
        classes=class_indices(grade, zone) if box is not None else [],
        key=bool(label.get("isKeySlice", True)),
        facet_line=facet_line,
    )


def crop_batch(
    sources: list[CropSource],
    size: int,
    zoom: float,
    rng: np.random.Generator,
    jitter: bool = True,
    offsets: np.ndarray | None = None,
    centre_jitter: float = 0.25,
) -> tuple[torch.Tensor, list[Sample]]:
    """Crops [N, 1, size, size] and their samples (box in crop input pixels; none for a negative crop, which is
    centred at a herniation offset drawn from `offsets`)."""
    images, samples = [], []
    for source in sources:
        _, height, width = source.image.shape
        z = zoom * (rng.uniform(0.8, 1.25) if jitter else 1.0)
        if source.box is None:
            assert source.facet_line is not None and offsets is not None and len(offsets) > 0
            ox, oy = offsets[rng.integers(len(offsets))]
            length = float(np.linalg.norm(source.facet_line[1] - source.facet_line[0]))
            mid = source.facet_line.mean(0)
            cx = float(mid[0] + (ox if rng.random() < 0.5 else -ox) * length + rng.uniform(-2, 2))
            cy = float(mid[1] + oy * length + rng.uniform(-2, 2))
        else:
            x0, y0, x1, y1 = source.box.tolist()
            bw, bh = x1 - x0, y1 - y0
            # The whole-slice pass's centre error: a share of the box (a quarter for the refiner; a verifier's
            # low-scoring candidates are further off) plus a pixel and a half, at most.
            dx, dy = (
                (rng.uniform(-centre_jitter, centre_jitter, 2) * [bw, bh] + rng.uniform(-1.5, 1.5, 2))
                if jitter
                else (0.0, 0.0)
            )
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

        if source.box is None:
            samples.append(Sample(images[-1], torch.zeros(0, 4), [], None, True))
            continue
        bx0, by0 = to_crop(source.box[0], source.box[1])
        bx1, by1 = to_crop(source.box[2], source.box[3])
        box = torch.stack([torch.minimum(bx0, bx1), by0, torch.maximum(bx0, bx1), by1])[None]
        # No facet targets: the facets often lie outside the crop, and the pipeline reads only the refined box.
        samples.append(Sample(images[-1], box, [source.classes], None, source.key))
    return torch.stack(images), samples
