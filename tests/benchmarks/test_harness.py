"""Fast checks of the benchmark harness's arithmetic (no benchmark is run here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.camera_trial import TrialResult
from benchmarks.cameras import judge
from benchmarks.harness import Measurement, repeat, table
from benchmarks.latency import bucket_percentile
from benchmarks.profile import summarise


def test_measurement_median_min_max() -> None:
    m = Measurement("x", "ms", [5.0, 1.0, 3.0, 100.0])
    assert (m.median, m.low, m.high) == (4.0, 1.0, 100.0)


def test_repeat_collects_every_run() -> None:
    values = iter([3.0, 1.0, 2.0])
    m = repeat("r", "ms", 3, lambda: next(values))
    assert m.samples == [3.0, 1.0, 2.0]
    assert m.median == 2.0


def test_table_rows_and_ratios() -> None:
    base = Measurement("base", "ev/s", [10.0, 12.0, 11.0])
    fast = Measurement("fast", "ev/s", [22.0, 20.0, 24.0])
    text = table("t", [base, fast], base, "vs base")
    lines = text.splitlines()
    assert lines[0] == "| t | median | min | max | unit | vs base |"
    assert lines[2] == "| base | 11 | 10 | 12 | ev/s | 1.00 |"
    assert lines[3] == "| fast | 22 | 20 | 24 | ev/s | 2.00 |"


def test_table_without_ratio_has_no_ratio_column() -> None:
    text = table("t", [Measurement("a", "ms", [1.5])])
    assert text.splitlines()[0] == "| t | median | min | max | unit |"
    assert text.splitlines()[2] == "| a | 1.5 | 1.5 | 1.5 | ms |"


def test_bucket_percentile_picks_the_bucket_holding_the_fraction() -> None:
    buckets = {"0.05": 50.0, "0.1": 95.0, "0.25": 99.0, "0.5": 100.0, "+Inf": 100.0}
    assert bucket_percentile(buckets, 0.5) == 0.05
    assert bucket_percentile(buckets, 0.95) == 0.1
    assert bucket_percentile(buckets, 0.99) == 0.25


def _result(**overrides: object) -> TrialResult:
    fields: dict[str, object] = {
        "impl": "agent",
        "cameras": 2,
        "window_s": 20.0,
        "cpu_s": 10.0,
        "rss_mib": 100.0,
        "decoded_fps": [25.0, 24.9],
        "analysed_fps": [5.0, 5.0],
        "clips": [25, 24],
        "clips_expected": 25.0,
        "drops": {},
        "inference_queue": 0.0,
        "connected": 2,
    }
    fields.update(overrides)
    return TrialResult(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({}, "ok"),
        ({"connected": 1}, "only 1/2 cameras connected"),
        ({"decoded_fps": [25.0, 20.0]}, "decode fell behind"),
        ({"analysed_fps": [5.0, 4.0]}, "analysis fell behind"),
        ({"clips": [25, 20]}, "clips skipped"),
        ({"drops": {"inference/queue_full": 3.0}}, "drops: inference/queue_full=3"),
        ({"inference_queue": 100.0}, "inference queue backed up"),
    ],
)
def test_judge_names_the_first_failed_criterion(overrides: dict[str, object], reason: str) -> None:
    assert judge(_result(**overrides), 5.0).startswith(reason)


def test_cpu_per_frame_counts_every_decoded_frame() -> None:
    result = _result(decoded_fps=[25.0, 25.0], window_s=10.0, cpu_s=1.0)
    assert result.cpu_ms_per_frame == pytest.approx(2.0)


def test_profile_summary_shares(tmp_path: Path) -> None:
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "process 1;_read (edge/sources/camera.py:120);grab (edge/sources/opencv_stream.py:94) 75\n"
        "process 1;_work (edge/inference/engine.py:150);_call (edge/inference/runner.py:90);"
        "run (onnxruntime/onnxruntime_inference_collection.py:220) 25\n",
        encoding="utf-8",
    )
    summary = summarise(raw)
    assert summary["samples"] == 100
    steps = summary["steps"]
    assert isinstance(steps, dict)
    assert steps["onnxruntime run"] == pytest.approx(0.25)
    assert next(iter(steps.values())) == pytest.approx(0.75)
    top = summary["top"]
    assert isinstance(top, dict)
    assert top["grab (opencv_stream.py:94)"] == pytest.approx(0.75)
