"""Train the MSU detector on the synthetic dataset and export it to ONNX with its manifest.

    /usr/bin/python3 models/training/train.py --data DIR --out models/msu-ldh/<version> [--epochs N]

Reproducible: fixed seeds, deterministic data order and augmentation per (seed, epoch, sample). Uses CUDA when
torch sees a GPU, else the CPU with 2 threads (Debian's torch defaults to one).
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from torchvision.ops import generalized_box_iou_loss, sigmoid_focal_loss

from dataset import SliceDataset, augment_batch, collate
from msu_detector import NUM_CLASSES, STRIDE, ExportWrapper, MsuDetector, cell_centres

CENTRE_RADIUS = 2.5  # cells: positives are cells within this distance of a box centre and inside the box


def assign_targets(samples, grid: int, device: torch.device):
    """FCOS-style centre sampling: for each herniation, cells whose centre lies inside its box and within
    CENTRE_RADIUS cells of its centre (at least the nearest cell) are positives of its classes."""
    n = len(samples)
    cls_target = torch.zeros(n, NUM_CLASSES, grid, grid, device=device)
    box_target = torch.zeros(n, 4, grid, grid, device=device)
    kp_target = torch.zeros(n, 4, grid, grid, device=device)
    kp_valid = torch.zeros(n, grid, grid, dtype=torch.bool, device=device)
    positive = torch.zeros(n, grid, grid, dtype=torch.bool, device=device)
    cx, cy = cell_centres(grid, grid, device)
    for i, sample in enumerate(samples):
        for box, classes in zip(sample.boxes.to(device) / STRIDE, sample.classes):
            x0, y0, x1, y1 = box
            bx, by = (x0 + x1) / 2, (y0 + y1) / 2
            inside = (cx > x0) & (cx < x1) & (cy > y0) & (cy < y1)
            near = (cx - bx).abs().maximum((cy - by).abs()) <= CENTRE_RADIUS
            mask = inside & near
            if not mask.any():
                mask = torch.zeros_like(mask)
                mask[min(grid - 1, max(0, int(by))), min(grid - 1, max(0, int(bx)))] = True
            for c in classes:
                cls_target[i, c][mask] = 1.0
            box_target[i, 0][mask] = (cx - x0)[mask]
            box_target[i, 1][mask] = (cy - y0)[mask]
            box_target[i, 2][mask] = (x1 - cx)[mask]
            box_target[i, 3][mask] = (y1 - cy)[mask]
            positive[i] |= mask
            if sample.facets is not None:
                facets = sample.facets.to(device) / STRIDE
                for k in range(2):
                    kp_target[i, 2 * k][mask] = (facets[k, 0] - cx)[mask]
                    kp_target[i, 2 * k + 1][mask] = (facets[k, 1] - cy)[mask]
                kp_valid[i] |= mask
    return cls_target, box_target, kp_target, kp_valid, positive


def ltrb_to_xyxy(ltrb: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    return torch.stack([cx - ltrb[:, 0], cy - ltrb[:, 1], cx + ltrb[:, 2], cy + ltrb[:, 3]], 1)


def compute_loss(outputs, samples, device):
    cls, box, keypoints, visibility = outputs
    grid = cls.shape[-1]
    cls_t, box_t, kp_t, kp_valid, positive = assign_targets(samples, grid, device)
    num_pos = max(1.0, float(positive.sum()))
    loss_cls = sigmoid_focal_loss(cls, cls_t, alpha=0.25, gamma=2.0, reduction="sum") / num_pos
    cx, cy = cell_centres(grid, grid, device)
    cx, cy = cx.expand_as(positive), cy.expand_as(positive)
    loss_box = torch.zeros((), device=device)
    loss_kp = torch.zeros((), device=device)
    if positive.any():
        pred = ltrb_to_xyxy(box.permute(1, 0, 2, 3)[:, positive].T, cx[positive], cy[positive])
        target = ltrb_to_xyxy(box_t.permute(1, 0, 2, 3)[:, positive].T, cx[positive], cy[positive])
        loss_box = generalized_box_iou_loss(pred, target, reduction="mean") + 0.1 * F.l1_loss(pred, target)
    if kp_valid.any():
        loss_kp = F.smooth_l1_loss(keypoints.permute(1, 0, 2, 3)[:, kp_valid].T, kp_t.permute(1, 0, 2, 3)[:, kp_valid].T)
    vis_target = kp_valid.float()[:, None].expand_as(visibility)
    loss_vis = F.binary_cross_entropy_with_logits(visibility[positive[:, None].expand_as(visibility)], vis_target[positive[:, None].expand_as(visibility)]) if positive.any() else torch.zeros((), device=device)
    return loss_cls + 2.0 * loss_box + loss_kp + 0.2 * loss_vis, (loss_cls.item(), float(loss_box), float(loss_kp))


def set_seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--width", type=int, default=24)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=20241126)
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (1 is faster on a busy machine)")
    args = parser.parse_args()

    set_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    files = sorted(args.data.rglob("*.npy"))
    if not files:
        raise SystemExit(f"No training slices (*.npy + *.json) under {args.data}: run `npm run synth -- --dataset` first")
    dataset = SliceDataset(files, args.size)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=args.batch, shuffle=True, collate_fn=collate, num_workers=0,
        generator=torch.Generator().manual_seed(args.seed),
    )
    model = MsuDetector(args.width).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    print(f"training on {len(files)} slices, {parameters / 1e6:.2f} M parameters, {device}, {args.epochs} epochs")
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        totals = np.zeros(4)
        for step, (images, samples) in enumerate(loader):
            # Augmentation is seeded per (seed, epoch, step): the same run gives the same model.
            images, samples = augment_batch(images, samples, np.random.default_rng([args.seed, epoch, step]))
            images = images.to(device)
            loss, parts = compute_loss(model(images), samples, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            totals += np.array([loss.item(), *parts])
        totals /= len(loader)
        elapsed = time.time() - started
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {totals[0]:.3f} (cls {totals[1]:.3f} box {totals[2]:.3f} "
            f"kp {totals[3]:.3f}) · {elapsed / 60:.1f} min · {len(files) * (epoch + 1) / elapsed:.0f} slices/s",
            flush=True,
        )

    args.out.mkdir(parents=True, exist_ok=True)
    model.eval().cpu()
    wrapper = ExportWrapper(model)
    dummy = torch.zeros(1, 1, args.size, args.size)
    torch.onnx.export(
        wrapper, dummy, args.out / "model.onnx", opset_version=17, input_names=["images"], output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
    )
    training = {
        "slices": len(files),
        "epochs": args.epochs,
        "seed": args.seed,
        "parameters": parameters,
        "device": device.type,
        "minutes": round((time.time() - started) / 60, 1),
    }
    (args.out / "training.json").write_text(json.dumps(training, indent=2) + "\n")
    print(f"exported {args.out / 'model.onnx'} after {training['minutes']} min")


if __name__ == "__main__":
    main()
