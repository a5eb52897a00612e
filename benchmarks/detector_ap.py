"""Average precision of YOLO detectors on annotated pages: AP50 and AP50-95 per class over all confidences
(how well the boxes fit, not only whether they pass IoU 0.5), beside F1 at each detector's own confidences.

    python benchmarks/detector_ap.py DIR WEIGHTS [WEIGHTS ...]
    python benchmarks/detector_ap.py ../shared/data/comics/labels weights/detector runs/stage12_out --every 10

Pages are read as ``bd2music evaluate-panels`` reads them (eval_pages format, downscaled like the pipeline);
``--every 10`` keeps every 10th page, the detector's validation pages when DIR is ``comics/labels``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from ultralytics.utils.metrics import ap_per_class

from bd2music.evaluation.panels import Counts, count_matches, load_annotations
from bd2music.io import load_page
from bd2music.vision.analysis import ANALYSIS_LONG_SIDE
from bd2music.vision.boxes import CLASSES, Box, iou_matrix
from bd2music.vision.yolo import YoloDetector

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)


def true_positives(pred: list[Box], scores: list[float], truth: list[Box]) -> np.ndarray:
    """(len(pred), 10) booleans: in score order, each prediction takes the best free truth box at each IoU."""
    hits = np.zeros((len(pred), len(IOU_THRESHOLDS)), dtype=bool)
    ious = iou_matrix(np.array(pred), np.array(truth))
    for column, threshold in enumerate(IOU_THRESHOLDS):
        free = np.ones(len(truth), dtype=bool)
        for row in np.argsort(scores)[::-1]:
            candidates = np.where(free & (ious[row] >= threshold), ious[row], -1.0)
            if len(truth) and candidates.max() >= 0:
                free[candidates.argmax()] = False
                hits[row, column] = True
    return hits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--every", type=int, default=1, help="keep every n-th page")
    args = parser.parse_args()
    torch.set_num_threads(2)
    pages = load_annotations(args.folder)[:: args.every]
    images = []
    for annotated in pages:
        page = load_page(annotated.image)
        small, scale = page.downscaled(ANALYSIS_LONG_SIDE)
        images.append((small, scale * annotated.width / page.width, scale * annotated.height / page.height))
    print(f"{len(pages)} pages of {args.folder}\n")
    print("| weights | class | AP50 | AP50-95 | F1 at its confidence |\n|---|---|---|---|---|")
    for weights in args.weights:
        detector = YoloDetector.from_pretrained(weights)
        shipped, detector.config.conf = detector.config.conf, [0.001] * len(CLASSES)
        hits, scores, predicted, truths = [], [], [], []
        at_confidence = {label: Counts() for label in CLASSES}
        for annotated, (small, fx, fy) in zip(pages, images):
            detections = detector.detect(small)
            for cls, label in enumerate(CLASSES):
                truth = annotated.panels if label == "panel" else annotated.balloons
                if truth is None:
                    continue
                found = [d for d in detections if d.label == label]
                boxes = [(d.box[0] * fx, d.box[1] * fy, d.box[2] * fx, d.box[3] * fy) for d in found]
                hits.append(true_positives(boxes, [d.score for d in found], truth))
                scores += [d.score for d in found]
                predicted += [cls] * len(found)
                truths += [cls] * len(truth)
                kept = [box for box, d in zip(boxes, found) if d.score >= shipped[cls]]
                at_confidence[label] += count_matches(kept, truth)
        ap, classes = ap_per_class(np.concatenate(hits), np.array(scores), np.array(predicted), np.array(truths))[5:7]
        for row, cls in enumerate(classes):
            label = CLASSES[int(cls)]
            print(f"| {weights} | {label} | {ap[row, 0]:.3f} | {ap[row].mean():.3f} | {at_confidence[label].f1:.3f} |")


if __name__ == "__main__":
    main()
