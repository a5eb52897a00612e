"""The trained YOLO panel/balloon detector, stored as safetensors + config.json and rebuilt from its YAML.

ultralytics' own ``.pt`` checkpoints are pickles; bd2music never loads them at run time. The architecture is
rebuilt from the YAML saved in ``config.json`` and the weights come from ``model.safetensors``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

from bd2music.hub import read_weights, resolve_component
from bd2music.models.base import config_from_dict
from bd2music.vision.boxes import CLASSES, Detection, clip_box

os.environ.setdefault("YOLO_OFFLINE", "1")  # ultralytics: no connectivity checks, no downloads


@dataclass
class DetectorConfig:
    """How to rebuild and run the detector (stored as ``config.json``)."""

    architecture: str = "yolo11n.yaml"  # the ultralytics YAML it was built from
    imgsz: int = 640  # inference size: long side in pixels, padded to a multiple of the stride
    names: list[str] = field(default_factory=lambda: list(CLASSES))
    conf: list[float] = field(default_factory=lambda: [0.25, 0.25])  # minimum confidence kept, per class
    iou: float = 0.5  # non-maximum suppression IoU threshold
    model_yaml: dict = field(default_factory=dict)  # the full architecture description, so no file is needed


def _import_ultralytics() -> None:
    """Import the ultralytics parts used here, undoing its patch of ``PIL.Image.open`` (which tries to
    install packages when a file is not an image) so bd2music's own loader keeps PIL's behaviour."""
    pil_open = Image.open
    import ultralytics.nn.tasks  # noqa: F401
    import ultralytics.utils.nms  # noqa: F401

    Image.open = pil_open


def _build(config: DetectorConfig) -> torch.nn.Module:
    _import_ultralytics()
    from ultralytics.nn.tasks import DetectionModel, yaml_model_load

    cfg = config.model_yaml or yaml_model_load(config.architecture)
    return DetectionModel(cfg=dict(cfg), nc=len(config.names), verbose=False)


def save_detector(model: torch.nn.Module, config: DetectorConfig, out_dir: Path) -> None:
    """Write ``out_dir/model.safetensors`` (float16) and ``out_dir/config.json`` for a trained DetectionModel."""
    out_dir.mkdir(parents=True, exist_ok=True)
    config.model_yaml = {k: v for k, v in dict(model.yaml).items() if k != "yaml_file"}
    state = {k: v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous()
             for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")


class YoloDetector:
    """Panels and balloon text regions with a trained YOLO; boxes in the pixels of the given image."""

    name = "yolo"

    def __init__(self, model: torch.nn.Module, config: DetectorConfig, device: str | torch.device = "cpu") -> None:
        self.model = model.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.stride = int(max(model.stride))

    @classmethod
    def from_pretrained(cls, path_or_repo: str | Path | None = None, revision: str | None = None,
                        device: str | torch.device = "cpu", fuse: bool = True) -> YoloDetector:
        """Load from a local folder (default: the repo's ``weights/detector``) or a Hub repo at ``revision``.

        ``fuse`` folds batch norms into convolutions for faster inference (keep False to train further).
        """
        folder = resolve_component("detector", path_or_repo, revision)
        data, state = read_weights(folder)
        config = config_from_dict(DetectorConfig, data, f"{folder}/config.json")
        model = _build(config)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=True)
        return cls(model.fuse(verbose=False) if fuse else model, config, device)

    def _letterbox(self, image: Image.Image) -> tuple[torch.Tensor, float, tuple[int, int]]:
        scale = self.config.imgsz / max(image.size)
        w, h = max(1, round(image.width * scale)), max(1, round(image.height * scale))
        resized = np.asarray(image.resize((w, h), Image.Resampling.BILINEAR))
        pw, ph = -(-w // self.stride) * self.stride, -(-h // self.stride) * self.stride
        left, top = (pw - w) // 2, (ph - h) // 2
        canvas = np.full((ph, pw, 3), 114, dtype=np.uint8)
        canvas[top:top + h, left:left + w] = resized
        tensor = torch.from_numpy(canvas).permute(2, 0, 1).float().div_(255.0).unsqueeze(0)
        return tensor, scale, (left, top)

    @torch.inference_mode()
    def detect(self, image: Image.Image) -> list[Detection]:
        """Detect panels and balloons in an RGB image."""
        from ultralytics.utils.nms import non_max_suppression

        tensor, scale, (left, top) = self._letterbox(image)
        prediction = self.model(tensor.to(self.device))
        prediction = prediction[0] if isinstance(prediction, (list, tuple)) else prediction
        thresholds = self.config.conf
        kept = non_max_suppression(prediction, conf_thres=min(thresholds), iou_thres=self.config.iou, max_det=300)[0]
        detections = []
        for x0, y0, x1, y1, score, cls in kept.cpu().tolist():
            if score < thresholds[int(cls)]:
                continue
            box = ((x0 - left) / scale, (y0 - top) / scale, (x1 - left) / scale, (y1 - top) / scale)
            detections.append(Detection(clip_box(box, image.width, image.height), float(score), self.config.names[int(cls)]))
        return detections
