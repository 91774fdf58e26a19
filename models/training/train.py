"""Train the MSU detector on the synthetic dataset and export it to ONNX with its manifest.

    /usr/bin/python3 models/training/train.py --data DIR --out models/msu-ldh/<version> [--epochs N]
    /usr/bin/python3 models/training/train.py --data DIR --out models/msu-ldh/<version> --refine-zoom 4 --onnx refine.onnx

The second form trains the box refiner (refine_crops.py): the same network on zoomed crops around each herniation.

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
from torchvision.ops import box_iou, generalized_box_iou_loss

from dataset import SliceDataset, augment_batch, augment_intensity, collate
from msu_detector import NUM_CLASSES, STRIDE, ExportWrapper, MsuDetector, cell_centres
from refine_crops import crop_batch, load_crop_sources

POSITIVE_RADIUS = 1.0  # cells: positives are the cells whose centre lies within this of the box centre (2 × 2)
NON_KEY_QUALITY = 0.85  # score target on a herniation's non-key slices, relative to its key slice
EQUAL_EDGE_WEIGHTS = (1.0, 1.0, 1.0, 1.0)  # box-loss L1 weights of x0, y0, x1, y1 unless --edge-weights says otherwise


def assign_targets(samples, grid: int, device: torch.device):
    """Each herniation's positives are the 2 × 2 cells nearest its centre (Chebyshev distance ≤ POSITIVE_RADIUS
    cells); every positive regresses the whole box, so it need not contain the box (herniations are often smaller
    than a cell). Returns per-cell class masks, box targets in cells (x0, y0, x1, y1), the slice quality (1 on the
    key slice, NON_KEY_QUALITY elsewhere), keypoint targets and masks."""
    n = len(samples)
    cls_mask = torch.zeros(n, NUM_CLASSES, grid, grid, device=device)
    box_target = torch.zeros(n, 4, grid, grid, device=device)
    quality = torch.zeros(n, grid, grid, device=device)
    kp_target = torch.zeros(n, 4, grid, grid, device=device)
    kp_valid = torch.zeros(n, grid, grid, dtype=torch.bool, device=device)
    positive = torch.zeros(n, grid, grid, dtype=torch.bool, device=device)
    cx, cy = cell_centres(grid, grid, device)
    for i, sample in enumerate(samples):
        for box, classes in zip(sample.boxes.to(device) / STRIDE, sample.classes):
            x0, y0, x1, y1 = box
            bx, by = (x0 + x1) / 2, (y0 + y1) / 2
            mask = (cx - bx).abs().maximum((cy - by).abs()) <= POSITIVE_RADIUS
            if not mask.any():
                mask = torch.zeros_like(mask)
                mask[min(grid - 1, max(0, int(by))), min(grid - 1, max(0, int(bx)))] = True
            for c in classes:
                cls_mask[i, c][mask] = 1.0
            for k in range(4):
                box_target[i, k][mask] = box[k]
            quality[i][mask] = 1.0 if sample.key else NON_KEY_QUALITY
            positive[i] |= mask
            if sample.facets is not None:
                facets = sample.facets.to(device) / STRIDE
                for k in range(2):
                    kp_target[i, 2 * k][mask] = (facets[k, 0] - cx)[mask]
                    kp_target[i, 2 * k + 1][mask] = (facets[k, 1] - cy)[mask]
                kp_valid[i] |= mask
    return cls_mask, box_target, quality, kp_target, kp_valid, positive


def decode_boxes(box: torch.Tensor, cx: torch.Tensor, cy: torch.Tensor) -> torch.Tensor:
    """(dx, dy, log w, log h) rows → (x0, y0, x1, y1) in cells."""
    bx, by = cx + box[:, 0], cy + box[:, 1]
    w, h = box[:, 2].exp(), box[:, 3].exp()
    return torch.stack([bx - w / 2, by - h / 2, bx + w / 2, by + h / 2], 1)


def quality_focal_loss(logits: torch.Tensor, target: torch.Tensor, beta: float = 2.0) -> torch.Tensor:
    """Quality focal loss (Li et al., GFL 2020): BCE against a soft target, weighted by |σ(logit) − target|^β."""
    p = logits.sigmoid()
    return (F.binary_cross_entropy_with_logits(logits, target, reduction="none") * (p - target).abs().pow(beta)).sum()


def compute_loss(outputs, samples, device, edge_weights: tuple[float, ...] = EQUAL_EDGE_WEIGHTS):
    """IoU-aware classification: a positive's class target is its slice quality × (0.4 + 0.6 · IoU of its own
    predicted box), so among a herniation's cells and slices the best box on the key slice scores highest — the
    pipeline keeps the top-scoring detection of a level, and the eval measures its box on that slice. Boxes: GIoU
    plus L1 in cells, the L1 of each edge (x0, y0, x1, y1) times its `edge_weights` entry; keypoints: smooth L1;
    visibility: BCE."""
    cls, box, keypoints, visibility = outputs
    grid = cls.shape[-1]
    cls_mask, box_t, quality, kp_t, kp_valid, positive = assign_targets(samples, grid, device)
    num_pos = max(1.0, float(positive.sum()))
    cx, cy = cell_centres(grid, grid, device)
    cx, cy = cx.expand_as(positive), cy.expand_as(positive)
    cls_target = torch.zeros_like(cls)
    loss_box = torch.zeros((), device=device)
    loss_kp = torch.zeros((), device=device)
    mean_iou = 0.0
    if positive.any():
        pred = decode_boxes(box.permute(1, 0, 2, 3)[:, positive].T, cx[positive], cy[positive])
        target = box_t.permute(1, 0, 2, 3)[:, positive].T
        with torch.no_grad():
            overlap = box_iou(pred, target).diagonal().clamp(0, 1)
            mean_iou = float(overlap.mean())
            score = quality[positive] * (0.4 + 0.6 * overlap)
            dense = torch.zeros_like(quality)
            dense[positive] = score
            cls_target = cls_mask * dense[:, None]
        l1 = (
            F.l1_loss(pred, target)  # kept as is for equal weights: the committed models retrain bit for bit
            if edge_weights == EQUAL_EDGE_WEIGHTS
            else ((pred - target).abs() * torch.tensor(edge_weights, device=device)).mean()
        )
        loss_box = generalized_box_iou_loss(pred, target, reduction="mean") + l1
    loss_cls = quality_focal_loss(cls, cls_target) / num_pos
    if kp_valid.any():
        loss_kp = F.smooth_l1_loss(keypoints.permute(1, 0, 2, 3)[:, kp_valid].T, kp_t.permute(1, 0, 2, 3)[:, kp_valid].T)
    vis_target = kp_valid.float()[:, None].expand_as(visibility)
    loss_vis = F.binary_cross_entropy_with_logits(visibility[positive[:, None].expand_as(visibility)], vis_target[positive[:, None].expand_as(visibility)]) if positive.any() else torch.zeros((), device=device)
    return loss_cls + 2.0 * loss_box + loss_kp + 0.2 * loss_vis, (loss_cls.item(), float(loss_box), float(loss_kp), mean_iou)


@torch.no_grad()
def validate(model, dataset, device, batch: int = 32) -> dict:
    """Per herniated slice, the top-scoring detection of the slice (as the pipeline picks per level): its IoU with
    the truth box, and whether its best class is one of the truth classes. Key slices and all slices."""
    model.eval()
    ious, key_ious, correct = [], [], 0
    for start in range(0, len(dataset), batch):
        chunk = [dataset[i] for i in range(start, min(len(dataset), start + batch))]
        cls, box, _, _ = model(torch.stack([s.image for s in chunk]).to(device))
        grid = cls.shape[-1]
        cx, cy = cell_centres(grid, grid, device)
        for i, sample in enumerate(chunk):
            if not len(sample.boxes):
                continue
            scores = cls[i].sigmoid()
            best = int(scores.amax(0).flatten().argmax())
            y, x = divmod(best, grid)
            pred = decode_boxes(box[i, :, y, x][None], cx[y, x][None], cy[y, x][None]) * STRIDE
            value = float(box_iou(pred, sample.boxes[:1].to(device))[0, 0])
            ious.append(value)
            if sample.key:
                key_ious.append(value)
            correct += int(int(scores[:, y, x].argmax()) in sample.classes[0])
    model.train()
    arr, key = np.array(ious), np.array(key_ious)
    return {
        "slices": len(arr),
        "meanIoU": float(arr.mean()) if len(arr) else float("nan"),
        "keyMeanIoU": float(key.mean()) if len(key) else float("nan"),
        "keyIoU≥0.5": float((key >= 0.5).mean()) if len(key) else float("nan"),
        "classAcc": correct / max(1, len(arr)),
    }


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
    parser.add_argument("--rotate", type=float, default=0.0, help="rotation augmentation, ± degrees (1.0.0: 10)")
    parser.add_argument("--val", type=Path, help="held-out slices (same layout as --data), scored after each epoch")
    parser.add_argument("--refine-zoom", type=float, default=0.0, help="train the box refiner on crops this many times magnified")
    parser.add_argument("--negatives", type=int, default=0, help="refiner: also this many crops without a herniation (a verifier)")
    parser.add_argument("--centre-jitter", type=float, default=0.25, help="refiner: crop centre error, share of the box")
    parser.add_argument("--onnx", default="model.onnx", help="file name of the export in --out")
    parser.add_argument(
        "--edge-weights", default="1,1,1,1",
        help="L1 box-loss weight of each edge x0,y0,x1,y1 (a refiner's deep edge y1 is the hardest to place)",
    )
    args = parser.parse_args()
    edge_weights = tuple(float(w) for w in args.edge_weights.split(","))
    if len(edge_weights) != 4:
        raise SystemExit(f"--edge-weights takes four numbers (x0,y0,x1,y1), got {args.edge_weights!r}")

    set_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    files = sorted(args.data.rglob("*.npy"))
    if not files:
        raise SystemExit(f"No training slices (*.npy + *.json) under {args.data}: run `npm run synth -- --dataset` first")
    studies = len({f.name.rsplit("_", 1)[0] for f in files})
    refine = args.refine_zoom > 0
    if refine:
        # Crops are cut afresh every step (centre, zoom and mirror drawn per sample); held-out crops are fixed.
        dataset, offsets = load_crop_sources(files, args.negatives, np.random.default_rng([args.seed, 998]))
        val = None
        if args.val:
            val_sources, _ = load_crop_sources(sorted(args.val.rglob("*.npy")))
            val = crop_batch(val_sources, args.size, args.refine_zoom, np.random.default_rng([args.seed, 999]))[1]
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch, shuffle=True, collate_fn=list, num_workers=0,
            generator=torch.Generator().manual_seed(args.seed),
        )
    else:
        dataset = SliceDataset(files, args.size)
        val = SliceDataset(sorted(args.val.rglob("*.npy")), args.size) if args.val else None
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=args.batch, shuffle=True, collate_fn=collate, num_workers=0,
            generator=torch.Generator().manual_seed(args.seed),
        )
    model = MsuDetector(args.width).to(device)
    parameters = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    steps = args.epochs * len(loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=steps, pct_start=0.1)
    what = (
        f"{len(dataset)} crops (zoom {args.refine_zoom}, {args.negatives} without a herniation)"
        if refine
        else f"{len(files)} slices"
    )
    print(f"training on {what} of {studies} studies, {parameters / 1e6:.2f} M parameters, {device}, {args.epochs} epochs")
    started = time.time()
    for epoch in range(args.epochs):
        model.train()
        totals = np.zeros(5)
        for step, batch in enumerate(loader):
            # Augmentation is seeded per (seed, epoch, step): the same run gives the same model.
            rng = np.random.default_rng([args.seed, epoch, step])
            if refine:
                images, samples = crop_batch(
                    batch, args.size, args.refine_zoom, rng, offsets=offsets, centre_jitter=args.centre_jitter
                )
                images = augment_intensity(images, rng)
            else:
                images, samples = augment_batch(batch[0], batch[1], rng, args.rotate)
            images = images.to(device)
            loss, parts = compute_loss(model(images), samples, device, edge_weights)
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
            f"kp {totals[3]:.3f} train IoU {totals[4]:.3f}) · {elapsed / 60:.1f} min · "
            f"{len(dataset) * (epoch + 1) / elapsed:.0f} slices/s",
            flush=True,
        )
        if val is not None and (epoch + 1 == args.epochs or (epoch + 1) % 4 == 0):
            print(f"  held-out: {json.dumps(validate(model, val, device))}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    model.eval().cpu()
    wrapper = ExportWrapper(model)
    dummy = torch.zeros(1, 1, args.size, args.size)
    torch.onnx.export(
        wrapper, dummy, args.out / args.onnx, opset_version=17, input_names=["images"], output_names=["output0"],
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
    )
    training = {
        **(
            {
                "refineZoom": args.refine_zoom, "crops": len(dataset), "negatives": args.negatives,
                "centreJitter": args.centre_jitter,
                **({"edgeWeights": list(edge_weights)} if edge_weights != EQUAL_EDGE_WEIGHTS else {}),
            }
            if refine
            else {}
        ),
        "size": args.size,
        "slices": len(files),
        "studies": studies,
        "epochs": args.epochs,
        "seed": args.seed,
        "parameters": parameters,
        "device": device.type,
        "minutes": round((time.time() - started) / 60, 1),
    }
    # refine.onnx → refine-training.json, verify.onnx → verify-training.json (write-manifest.ts reads them).
    facts_file = f"{Path(args.onnx).stem}-training.json" if refine else "training.json"
    (args.out / facts_file).write_text(json.dumps(training, indent=2) + "\n")
    print(f"exported {args.out / args.onnx} after {training['minutes']} min")


if __name__ == "__main__":
    main()
