"""Evaluation of bd2music's stages against annotations; the panel and balloon detection metrics are re-exported."""

from bd2music.evaluation.panels import (
    IOU_THRESHOLD,
    AnnotatedPage,
    Counts,
    DetectorReport,
    PageResult,
    count_matches,
    evaluate_detector,
    evaluate_page,
    load_annotations,
    match_boxes,
)

__all__ = [
    "IOU_THRESHOLD",
    "AnnotatedPage",
    "Counts",
    "DetectorReport",
    "PageResult",
    "count_matches",
    "evaluate_detector",
    "evaluate_page",
    "load_annotations",
    "match_boxes",
]
