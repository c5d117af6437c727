"""Baselines in the report: scored like a run, cached, shown, and what 'not better than noise' does to ranks."""
import json
import math

import pytest
import torch

from benchmark.report import baselines as B
from benchmark.report.aggregate import aggregate, baseline_rows, is_smoke, leaderboard
from benchmark.report.markdown import summary_markdown
from datamodules import DigitsDataModule, Grid25DataModule, Ring8DataModule


def rec(variant, seed, mmd, iterations=2000, dataset="ring8"):
    return {"run_id": f"{variant}-{dataset}-s{seed}", "variant": variant, "dataset": dataset, "seed": seed,
            "status": "completed", "steps": iterations, "metrics": {"mmd": mmd, "modes_covered": 8.0},
            "config": {"variant": variant, "data": dataset, "seed": seed, "iterations": iterations}}


NOISE = {"ring8": {"values": {"true": {"mmd": [0.0, 1e-5, -1e-5]}, "noise": {"mmd": [0.040, 0.041, 0.042]},
                              "collapsed": {"mmd": [0.29, 0.29, 0.30]}}}}


def entries(board, group="unconditional"):
    return {e.variant: e for e in board.datasets["ring8"].groups[group]}


def test_a_cell_overlapping_noise_is_marked_and_never_first():
    runs = [rec("good", s, v) for s, v in enumerate([0.001, 0.002, 0.003])]
    runs += [rec("sprays", s, v) for s, v in enumerate([0.030, 0.041, 0.050])]      # overlaps the noise draws
    runs += [rec("solo", 0, 0.035)]                          # one seed, better than every noise draw
    board = leaderboard(aggregate(runs, NOISE))
    e = entries(board)
    assert not e["good"].noise and e["good"].rank == 1
    assert not e["solo"].noise and e["solo"].rank == 1          # one seed: a tie, but it beats noise
    assert e["sprays"].noise and e["sprays"].rank == 3          # after the 2 cells that beat noise
    assert set(board.datasets["ring8"].baselines) == {"true", "noise", "collapsed"}


def test_when_nothing_beats_noise_nothing_is_ranked():
    runs = [rec("a", s, v) for s, v in enumerate([0.04, 0.05, 0.06])] + [rec("b", 0, 0.3)]
    board = leaderboard(aggregate(runs, NOISE))
    assert all(x.noise and x.rank is None for x in entries(board).values())
    assert all(line.mean_rank is None for line in board.overall["unconditional"])
    md = summary_markdown(runs, aggregate(runs, NOISE))
    assert "not better than noise" in md and "#1" not in md
    assert "baseline: noise (ignores the data)" in md and "baseline: true data" in md


def test_smoke_runs_rank_nothing_and_say_so():
    runs = [rec("a", 0, 0.001, iterations=100), rec("b", 0, 0.002, iterations=100)]
    assert is_smoke(runs) and not is_smoke([rec("a", 0, 0.001)])
    md = summary_markdown(runs, aggregate(runs, NOISE))
    assert md.splitlines()[2].startswith("**Smoke run**") and "#1" not in md and "unranked" in md


def test_few_seeds_are_flagged_and_the_method_is_stated():
    runs = [rec("a", s, 0.001) for s in range(3)] + [rec("b", s, 0.002) for s in range(5)]
    e = entries(leaderboard(aggregate(runs, NOISE)))
    assert e["a"].few_seeds and not e["b"].few_seeds
    md = summary_markdown(runs, aggregate(runs, NOISE))
    assert "under 5 seeds" in md and "2000 resamples" in md and "share a rank" in md


def test_baseline_rows_summarise_the_draws():
    rows = baseline_rows(NOISE)
    (noise,) = [r for r in rows if r.baseline == "noise"]
    assert noise.median == 0.041 and (noise.ci_low, noise.ci_high) == (0.040, 0.042)


@pytest.mark.parametrize("dm_cls", [Ring8DataModule, Grid25DataModule])
def test_point_samplers(dm_cls):
    dm = dm_cls()
    dm.setup()
    s = B.samplers(dm)
    noise, col = s["noise"](1000, 0), s["collapsed"](1000, 1)
    lo, hi = dm.train_x.min(0).values, dm.train_x.max(0).values
    assert ((noise >= lo) & (noise <= hi)).all() and noise.std(0).min() > 0.5 * (hi - lo).min() / 12 ** 0.5
    assert (col - dm.modes()[1]).norm(dim=1).max() < 6 * dm.std          # every point at mode 1
    assert not torch.equal(s["true"](100, 0), dm.train_x[:100])


def test_image_samplers():
    dm = DigitsDataModule()
    dm.setup()
    s = B.samplers(dm)
    unit = dm.train_x.float() / 127.5 - 1
    noise = s["noise"](4000, 0)
    assert noise.shape == (4000, 1, 8, 8) and noise.min() >= -1 and noise.max() <= 1
    assert (noise.mean(0) - unit.mean(0)).abs().mean() < 0.05          # per-pixel mean kept (up to clipping)
    col = s["collapsed"](10, 0)
    assert (col == col[0]).all() and any(torch.equal(col[0], u) for u in unit)


def test_ring8_baselines_order_and_cache(tmp_path, monkeypatch):
    got = B.dataset_baselines("ring8", ["mmd", "modes_covered_strict"], tmp_path, draws=2)
    v = got["values"]
    assert max(v["true"]["mmd"]) < min(v["noise"]["mmd"]) < max(v["noise"]["mmd"]) < min(v["collapsed"]["mmd"])
    assert v["noise"]["modes_covered_strict"] == [0.0, 0.0] and v["true"]["modes_covered_strict"] == [8.0, 8.0]
    assert json.loads((tmp_path / "baselines.json").read_text())["ring8"]["values"] == v

    def boom(*a, **k):
        raise AssertionError("scored again despite the cache")

    monkeypatch.setattr(B, "score_baselines", boom)
    assert B.dataset_baselines("ring8", ["mmd", "modes_covered_strict"], tmp_path, draws=2)["values"] == v
    assert "unavailable" in B.dataset_baselines("ring8", ["mmd"], tmp_path, draws=3)      # another key: rescored


def test_nonfinite_baseline_scores_survive_the_cache_as_standard_json(tmp_path, monkeypatch):
    scored = {"true": {"reverse_kl": [0.5, math.inf]}, "noise": {"reverse_kl": [math.nan, 2.0]}}
    monkeypatch.setattr(B, "score_baselines", lambda *a, **k: scored)
    assert B.dataset_baselines("ring8", ["reverse_kl"], tmp_path, draws=2)["values"] == scored

    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    on_disk = json.loads((tmp_path / "baselines.json").read_text(), parse_constant=refuse)
    assert on_disk["ring8"]["values"]["true"]["reverse_kl"] == [0.5, None]          # io's `nonfinite` scheme
    monkeypatch.setattr(B, "score_baselines", lambda *a, **k: pytest.fail("scored again despite the cache"))
    back = B.dataset_baselines("ring8", ["reverse_kl"], tmp_path, draws=2)["values"]
    assert back["true"]["reverse_kl"] == [0.5, math.inf] and math.isnan(back["noise"]["reverse_kl"][0])
    (row,) = [r for r in baseline_rows({"ring8": {"values": back}}) if r.baseline == "true"]
    assert row.mean == math.inf and row.values[1][0] == math.inf


def test_a_lone_conditional_variant_is_not_green():
    from benchmark.report.html import leaderboard_html

    runs = [rec("nsgan", s, 0.001) for s in range(2)] + [rec("nsgan2", s, 0.002) for s in range(2)]
    for m in (0.3, 0.001):                     # at noise level (0 modes) and beating noise: alone either way
        cg = [dict(rec("cgan", s, m), config={"variant": "cgan", "data": "ring8", "seed": s, "iterations": 2000,
                                               "conditional": True}, run_id=f"cgan-{s}") for s in range(2)]
        page = leaderboard_html(aggregate(runs + cg, NOISE))
        cond = page[page.index("Conditional objectives"):]
        assert 'class="num best"' not in cond and 'class="num best"' in page[:page.index("Conditional objectives")]
