"""A compact anchor-free one-stage detector for MSU-graded disc herniation on axial T2 slices.

Design (documented in the model card):
- Single-channel input, one prediction grid at stride 8 (herniations are 5–40 mm; at 256² input and a
  160–260 mm field of view one cell is 5–8 mm).
- Classes: the joint grade × zone set of the plain 9-class YOLOv8 layout (index = (grade − 1)·3 + zone, zone
  A/B/C). A herniation spanning two zones is trained multi-label (both adjacent zone classes of its grade), which
  the pipeline reads back as AB/BC — so a site's ordinary 9-class export and this model decode the same way.
- Keypoints: the two medial facet-joint edges of the slice (image-left first), appended per anchor as
  (x, y, visibility), so the panel can draw the intra-facet line and the pipeline can check the classifier
  against the MSU geometry.
- Export layout (docs/architecture.md §The model contract): [N, 4 + 9 + 3·2, anchors] — cx, cy, w, h in input
  pixels, sigmoid class scores, keypoints in input pixels with sigmoid visibility.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

NUM_CLASSES = 9
NUM_KEYPOINTS = 2
STRIDE = 8


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.SiLU(inplace=True),
    )


class Residual(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MsuDetector(nn.Module):
    """Raw training outputs: class logits [N, 9, H, W], box [N, 4, H, W] as (dx, dy, log w, log h) — the box
    centre's offset from the cell centre and the log of its size, all in cells —, keypoint offsets from the cell
    centre in cells [N, 4, H, W] and visibility logits [N, 2, H, W].

    Why centre + size and not FCOS distances (l, t, r, b) ≥ 0 as in 1.0.0: a herniation's box is 2–6 px wide at
    256² input, smaller than a cell (8 px), so its only positive cell's centre often lies outside the box; positive
    distances cannot express that box and the regressor had to stretch it over the cell centre (1.0.0's boxes were
    24 % too wide on average). Centre + size represents any box from any cell."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        w = width
        self.stem = nn.Sequential(conv_bn(1, w // 2, 2), conv_bn(w // 2, w, 2), Residual(w))  # stride 4
        self.stage8 = nn.Sequential(conv_bn(w, 2 * w, 2), Residual(2 * w), Residual(2 * w))  # stride 8
        self.stage16 = nn.Sequential(conv_bn(2 * w, 4 * w, 2), Residual(4 * w), Residual(4 * w))  # stride 16
        self.stage32 = nn.Sequential(conv_bn(4 * w, 4 * w, 2), Residual(4 * w))  # stride 32: context
        self.fuse16 = conv_bn(8 * w, 4 * w)
        self.fuse8 = nn.Sequential(conv_bn(6 * w, 3 * w), Residual(3 * w))
        self.cls_head = nn.Sequential(conv_bn(3 * w, 2 * w), nn.Conv2d(2 * w, NUM_CLASSES, 1))
        self.reg_head = nn.Sequential(conv_bn(3 * w, 2 * w), nn.Conv2d(2 * w, 4 + 3 * NUM_KEYPOINTS, 1))
        # Start with rare positives (focal-loss prior): p ≈ 0.01 everywhere.
        nn.init.constant_(self.cls_head[-1].bias, -4.6)
        # Start boxes at the typical herniation size (about 0.6 × 1.2 cells at 256² input).
        with torch.no_grad():
            self.reg_head[-1].bias[2] = -0.5
            self.reg_head[-1].bias[3] = 0.2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        f4 = self.stem(x)
        f8 = self.stage8(f4)
        f16 = self.stage16(f8)
        f32 = self.stage32(f16)
        f16 = self.fuse16(torch.cat([f16, F.interpolate(f32, scale_factor=2.0, mode="nearest")], 1))
        f8 = self.fuse8(torch.cat([f8, F.interpolate(f16, scale_factor=2.0, mode="nearest")], 1))
        cls = self.cls_head(f8)
        reg = self.reg_head(f8)
        box = torch.cat([reg[:, :2], reg[:, 2:4].clamp(-4.0, 3.0)], 1)
        keypoints = reg[:, 4 : 4 + 2 * NUM_KEYPOINTS]
        visibility = reg[:, 4 + 2 * NUM_KEYPOINTS :]
        return cls, box, keypoints, visibility


def cell_centres(height: int, width: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell centres in cells (x + 0.5, y + 0.5), each [H, W]."""
    ys, xs = torch.meshgrid(
        torch.arange(height, device=device, dtype=torch.float32),
        torch.arange(width, device=device, dtype=torch.float32),
        indexing="ij",
    )
    return xs + 0.5, ys + 0.5


class ExportWrapper(nn.Module):
    """The deployable graph: raw outputs → the YOLOv8-style [N, 4 + 9 + 6, anchors] tensor in input pixels."""

    def __init__(self, detector: MsuDetector) -> None:
        super().__init__()
        self.detector = detector

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        cls, box, keypoints, visibility = self.detector(images)
        n, _, h, w = cls.shape
        cx, cy = cell_centres(h, w, images.device)
        boxes = torch.stack(
            [(cx + box[:, 0]) * STRIDE, (cy + box[:, 1]) * STRIDE, box[:, 2].exp() * STRIDE, box[:, 3].exp() * STRIDE], 1
        )
        kps = []
        for k in range(NUM_KEYPOINTS):
            kps.append((cx + keypoints[:, 2 * k]) * STRIDE)
            kps.append((cy + keypoints[:, 2 * k + 1]) * STRIDE)
            kps.append(torch.sigmoid(visibility[:, k]))
        out = torch.cat([boxes, torch.sigmoid(cls), torch.stack(kps, 1)], 1)
        return out.reshape(n, 4 + NUM_CLASSES + 3 * NUM_KEYPOINTS, h * w)
