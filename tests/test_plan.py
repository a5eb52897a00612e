"""The plan: calibration tables (quantile mapping, ramps, ranges), the planner's segments, JSON, settings files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bd2music.errors import InputError
from bd2music.io import load_page
from bd2music.pipeline import Pipeline
from bd2music.plan import LISTENER_RANGES, QUANTILES, RAMPS, TARGETS, WHOLE_PAGE, Calibration, PlannerConfig

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_calibration_carries_ranks_onto_real_quantiles_and_ramps() -> None:
    rng = np.random.default_rng(0)
    generated = {name: rng.normal(5.0, 1.0, 500) for name in TARGETS}
    real = {"centroid": rng.uniform(500.0, 3000.0, 400), "flatness": rng.uniform(0.0, 0.4, 400),
            "tempo": rng.normal(120.0, 5.0, 400), "onset_rate": rng.uniform(5.0, 20.0, 400)}
    calibration = Calibration.fit(generated, real, pages=10)
    assert calibration.pages == 10 and calibration.clips == 400
    median = np.median(generated["centroid"])
    assert calibration.apply("centroid", median) == pytest.approx(np.median(real["centroid"]), rel=0.05)
    for name in TARGETS:  # monotone, inside the listener's range, ends at the ends
        values = calibration.apply(name, np.linspace(0.0, 10.0, 50))
        low, high = LISTENER_RANGES[name]
        assert (np.diff(values) >= 0).all() and low <= values.min() and values.max() <= high
    for name in (*RAMPS, "loudness"):  # ramps ignore the real clips' crowding: the range is used end to end
        assert calibration.target[name][0] == pytest.approx(LISTENER_RANGES[name][0])
        assert calibration.target[name][-1] == pytest.approx(LISTENER_RANGES[name][1])
        assert len(calibration.target[name]) == QUANTILES
    middle = calibration.apply("tempo", median)  # log-even: the median page is at the range's geometric middle
    assert middle == pytest.approx(np.sqrt(np.prod(LISTENER_RANGES["tempo"])), rel=0.05)


def test_planner_config_round_trips_and_refuses_a_broken_file(tmp_path: Path) -> None:
    config = PlannerConfig(crossfade_s=0.25)
    config.save(tmp_path)
    again = PlannerConfig.load(tmp_path)
    assert again.crossfade_s == 0.25 and again.calibration.target == config.calibration.target
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable planner config"):
        PlannerConfig.load(tmp_path)


@pytest.fixture(scope="module")
def pipe(one_torch_thread) -> Pipeline:
    return Pipeline.from_pretrained(device="cpu")


def test_the_plan_of_a_page_and_of_its_panels(pipe: Pipeline) -> None:
    page = load_page(EXAMPLES / "openmantra_tojime_no_siora_007.jpg")
    analysis = pipe.analyze(page, rtl=True)
    whole = pipe.planner(analysis, page.image, 8.0, 1, per_panel=False)
    [segment] = whole.segments
    assert (segment.panel, segment.start, segment.end) == (WHOLE_PAGE, 0.0, 8.0) and segment.text
    for name in TARGETS:
        assert LISTENER_RANGES[name][0] <= getattr(segment, name) <= LISTENER_RANGES[name][1]
    assert segment.embedding.norm() == pytest.approx(1.0, abs=1e-5) and segment.latent.ndim == 1
    panels = pipe.planner(analysis, page.image, 8.0, 1, per_panel=True)
    assert [s.panel for s in panels.segments] == list(range(len(analysis.panels)))
    assert panels.loudness == pytest.approx(sum(s.loudness * s.duration for s in panels.segments) / 8.0)
    record = json.loads(json.dumps(panels.to_dict()))
    assert record["seed"] == 1 and len(record["segments"]) == len(analysis.panels)
    assert set(record["segments"][0]) >= {"panel", "start", "end", *TARGETS, "text", "raw"}
    other_seed = pipe.planner(analysis, page.image, 8.0, 2, per_panel=False)
    assert other_seed.segments[0].raw != segment.raw, "the seed's noise does not reach the plan"


def test_the_shipped_calibration_is_used(pipe: Pipeline) -> None:
    shipped = PlannerConfig.load(Path(__file__).resolve().parents[1] / "weights" / "planner")
    assert pipe.planner.config.calibration.source == shipped.calibration.source
    assert shipped.calibration.pages > 0 and shipped.calibration.clips > 0
