"""Replays the pipeline's per-level decision (server/src/inference/detections-to-findings.ts) from the detections
that `diagnose.ts --json` records, under another presence threshold or spanning-zone rule, and prints the eval's
headline metrics. With the pipeline's own rule (--ratio 0, --threshold = the manifest's) it reproduces `npm run eval`.

    /usr/bin/python3 models/training/replay_decisions.py diag.json [--threshold 0.25] [--ratio 0.75]

Spanning rule replayed: an adjacent zone of the same grade makes the finding AB/BC when its score reaches
max(threshold, ratio × the primary zone's score); ratio 0 is the pipeline's current rule (score ≥ threshold).
"""
from __future__ import annotations

import argparse
import json

ZONES = "ABC"
CATEGORIES = {"grading": ["none", "1", "2", "3"], "localization": ["none", "A", "B", "C", "AB", "BC"]}


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def decide(record, threshold: float, ratio: float):
    best, best_uid = None, None
    for item in record["stack"]:
        for d in item["detections"]:
            if best is None or d["score"] > best["score"]:
                best, best_uid = d, item["uid"]
    if best is None or best["score"] < threshold:
        return None
    grade, zone_index = divmod(best["classIndex"], 3)
    zone, bar = ZONES[zone_index], max(threshold, ratio * best["score"])
    for adjacent in (zone_index - 1, zone_index + 1):
        if 0 <= adjacent < 3 and best["classScores"][grade * 3 + adjacent] >= bar:
            zone, bar = "".join(sorted(ZONES[zone_index] + ZONES[adjacent])), best["classScores"][grade * 3 + adjacent]
    return {"grade": grade + 1, "zone": zone, "key": best_uid, "box": best["box"]}


def gwet_ac1(truth, predicted, categories) -> float:
    n = len(truth)
    pa = sum(t == p for t, p in zip(truth, predicted)) / n
    pi = [(truth.count(k) + predicted.count(k)) / (2 * n) for k in categories]
    pe = sum(p * (1 - p) for p in pi) / (len(categories) - 1)
    return (pa - pe) / (1 - pe)


def macro_rates(truth, predicted, categories):
    sens, spec = [], []
    for k in categories[1:]:
        actual = sum(t == k for t in truth)
        if actual == 0:
            continue
        tp = sum(t == k and p == k for t, p in zip(truth, predicted))
        called = sum(p == k for p in predicted)
        sens.append(tp / actual)
        spec.append((len(truth) - actual - called + tp) / (len(truth) - actual))
    return sum(sens) / len(sens), sum(spec) / len(spec)


def replay(records, threshold: float, ratio: float) -> dict:
    out = {}
    for task, categories in CATEGORIES.items():
        label = lambda f: "none" if not f else (str(f["grade"]) if task == "grading" else f["zone"])
        truth, predicted, ious, herniations = [], [], [], 0
        for record in records:
            decided, true = decide(record, threshold, ratio), record["truth"]
            truth.append(label(true))
            predicted.append(label(decided))
            if true:
                herniations += 1
                if decided and label(decided) == label(true):
                    on_slice = [s for s in true["slices"] if s["sopInstanceUid"] == decided["key"]]
                    value = iou(on_slice[0]["box"], decided["box"]) if on_slice else 0.0
                    if value >= 0.5:
                        ious.append(value)
        sensitivity, specificity = macro_rates(truth, predicted, categories)
        out[task] = {
            "meanIoU": round(sum(ious) / len(ious), 3) if ious else None,
            "recall": round(len(ious) / herniations, 3),
            "ac1": round(gwet_ac1(truth, predicted, categories), 3),
            "sensitivity": round(sensitivity, 3),
            "specificity": round(specificity, 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("diagnosis", help="JSON written by diagnose.ts --json")
    parser.add_argument("--threshold", type=float, default=0.25)
    parser.add_argument("--ratio", type=float, default=0.0)
    args = parser.parse_args()
    records = json.load(open(args.diagnosis))
    print(json.dumps(replay(records, args.threshold, args.ratio)))


if __name__ == "__main__":
    main()
