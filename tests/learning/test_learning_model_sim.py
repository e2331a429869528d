"""A small, fast run of the learning benchmark's simulated world
(bench/learning_sim.py): the model must beat the static order and random
routing. The full month is `python -m bench.learning_sim`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import learning_sim


def test_the_model_beats_static_order_and_random_in_a_small_world() -> None:
    report = learning_sim.run_simulation(
        days=15, seed=1, requests_per_day=600, policies=("model", "static", "random")
    )
    by_name = {p["policy"]: p for p in report["policies"]}
    model, static, rnd = by_name["model"], by_name["static"], by_name["random"]
    assert report["world"]["requests"] == 15 * 600
    assert all(p["regret"] >= 0 for p in by_name.values())
    assert model["regret"] < static["regret"]
    assert model["regret"] < rnd["regret"]
    # It moves off the silently regressed backend (the static order never used it).
    assert isinstance(model["recovery_days"], float)
    assert static["recovery_days"] == "n/a"
    assert rnd["recovery_days"] == "never"
    # Users who dislike a backend are sent to it less than random routing does.
    assert model["dislikers_share_to_disliked"] < rnd["dislikers_share_to_disliked"]


def test_the_command_line_prints_a_table_and_writes_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sim.json"
    code = learning_sim.main(
        ["--days", "3", "--requests-per-day", "100", "--seed", "2", "--out", str(out)]
    )
    assert code == 0
    printed = capsys.readouterr().out
    for policy in learning_sim.ALL_POLICIES:
        assert policy in printed
    report = json.loads(out.read_text())
    assert [p["policy"] for p in report["policies"]] == list(learning_sim.ALL_POLICIES)
    assert report["goals"]["regret_reduction_vs_static"] is not None
    assert len(report["policies"][0]["daily_regret"]) == 3
