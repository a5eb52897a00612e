"""From the sound's readings to what its page should measure, and the settings saved with the weights.

Each reading is placed among the training clips' (its quantile, from ``DepictConfig.knots``: the readings of
the clips of shared/data/sounds outside tests/data/sounds_heldout.txt, ``benchmarks/tune_depict.py``), and the
quantile is carried onto a range of the page's features, as ``bd2music.vision.features`` measures them:

* tempo -> panel count (a quicker beat, a quicker cut rhythm: more panels);
* spectral centroid -> brightness (a brighter timbre, a lighter page);
* loudness -> colourfulness (a louder sound, a more colourful page; a whisper is nearly black and white);
* onset rate -> edge density (more onsets, busier line work);
* onset variety -> how irregular the panels' sizes and gutters are (``bd2music.depict.layout``).

The key gives the hue (``bd2music.depict.art.key_palette``). The quantile is strictly increasing in the
reading, also beyond the training clips' range, so that two clips that differ keep their order on the page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bd2music.depict.art import StyleConfig
from bd2music.depict.layout import LayoutConfig
from bd2music.depict.readings import SCALAR_READINGS, Readings
from bd2music.errors import InputError
from bd2music.models.base import config_from_dict, config_to_dict

KNOTS = 21  # quantiles (every 5 %) of each reading over the training clips
TAIL = 0.04  # share of the quantile given to a smooth, strictly increasing term (no ties past the table's ends)


def default_knots() -> dict[str, list[float]]:
    """Ramps over plausible ranges, used until ``benchmarks/tune_depict.py`` has fitted the training clips'."""
    ranges = {"tempo": (60.0, 200.0), "onset_rate": (0.0, 15.0), "centroid": (200.0, 4000.0),
              "loudness": (-50.0, -8.0), "onset_variety": (0.0, 1.2)}
    return {name: np.linspace(*ranges[name], KNOTS).tolist() for name in SCALAR_READINGS}


@dataclass(frozen=True)
class PageTargets:
    """What the page should measure, and the settings of its drawing."""

    panels: int  # panel count
    brightness: float  # mean luma (0-1)
    colourfulness: float  # Hasler-Süsstrunk M (0-~180)
    edge_density: float  # share of Canny edge pixels at 512 px
    irregularity: float  # 0 regular grid .. 1 uneven sizes and slanted gutters
    quantiles: dict[str, float] = field(default_factory=dict)  # each reading's place among the training clips

    def to_dict(self) -> dict:
        return {name: round(value, 4) if isinstance(value, float) else value for name, value in vars(self).items()
                if name != "quantiles"} | {"quantiles": {k: round(v, 4) for k, v in self.quantiles.items()}}


@dataclass
class DepictConfig:
    """Settings of ``depict`` (``weights/depict/config.json``)."""

    knots: dict[str, list[float]] = field(default_factory=default_knots)  # reading -> KNOTS quantiles (training)
    clips: int = 0  # how many training clips the knots come from
    panels: tuple[int, int] = (3, 9)  # panel count at the slowest and the fastest tempo
    brightness: tuple[float, float] = (0.34, 0.82)  # page brightness at the darkest and brightest centroid
    colourfulness: tuple[float, float] = (3.0, 60.0)  # colourfulness of the quietest and the loudest clip
    edge_density: tuple[float, float] = (0.1, 0.25)  # edge density at the fewest and the most onsets
    latent_noise: float = 0.25  # seeded noise added to F's comic latents, in the comic latents' own spread
    layout: LayoutConfig = field(default_factory=LayoutConfig)
    style: StyleConfig = field(default_factory=StyleConfig)

    def __post_init__(self) -> None:
        if set(self.knots) != set(SCALAR_READINGS):
            raise InputError(f"depict config: knots must name {', '.join(SCALAR_READINGS)}")
        for name, values in self.knots.items():
            if len(values) != KNOTS or np.any(np.diff(values) < 0):
                raise InputError(f"depict config: knots of {name} must be {KNOTS} increasing values")

    @classmethod
    def load(cls, folder: str | Path) -> DepictConfig:
        path = Path(folder) / "config.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputError(f"{path}: not a readable depict config ({error})") from None
        return config_from_dict(cls, data, str(path))

    def save(self, folder: str | Path) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "config.json").write_text(json.dumps(config_to_dict(self), indent=1) + "\n")

    @classmethod
    def fit(cls, readings: list[Readings], **settings) -> DepictConfig:
        """Knots from the readings of training clips; ``settings``: other fields."""
        levels = np.linspace(0, 1, KNOTS)
        knots = {name: np.maximum.accumulate(np.quantile([r.scalars()[name] for r in readings], levels)).tolist()
                 for name in SCALAR_READINGS}
        return cls(knots=knots, clips=len(readings), **settings)

    def quantile(self, name: str, value: float) -> float:
        """``value``'s place (0-1) among the training clips' readings ``name``: piecewise linear in the knots,
        plus a small logistic term over their interquartile range, so strictly increasing everywhere."""
        knots = np.asarray(self.knots[name])
        levels = np.linspace(0, 1, KNOTS)
        spread = max(knots[15] - knots[5], 1e-6)
        tail = 0.5 + 0.5 * np.tanh((value - knots[KNOTS // 2]) / spread)
        return float((1 - TAIL) * np.interp(value, knots, levels) + TAIL * tail)

    def targets(self, readings: Readings) -> PageTargets:
        """The page's targets for a clip's readings."""
        q = {name: self.quantile(name, value) for name, value in readings.scalars().items()}

        def carry(name: str, span: tuple[float, float]) -> float:
            return float(span[0] + q[name] * (span[1] - span[0]))

        return PageTargets(
            panels=int(round(carry("tempo", self.panels))),
            brightness=carry("centroid", self.brightness),
            colourfulness=carry("loudness", self.colourfulness),
            edge_density=carry("onset_rate", self.edge_density),
            irregularity=q["onset_variety"],
            quantiles=q,
        )
