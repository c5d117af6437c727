"""The W&B Report (``report --wandb-report``), built offline: its blocks and panels, and when it is saved."""
from __future__ import annotations

import json
import math

import pytest
import wandb_workspaces.reports.v2 as wr
from wandb_workspaces import expr
from wandb_workspaces.reports.v2 import interface

from benchmark.cli import main
from benchmark.io import atomic_write_json
from benchmark.report.wandb_report import build_wandb_report, publish_wandb_report

# (variant, dataset, seed) -> metrics; ring8 ranks by modes_covered (higher is better), digits by domain_fd (lower)
SCORES = {("nsgan", "ring8", 0): {"modes_covered": 6.0, "reverse_kl": 0.4},
          ("nsgan", "ring8", 1): {"modes_covered": 8.0, "reverse_kl": 0.2},
          ("wgan_gp", "ring8", 0): {"modes_covered": 8.0, "reverse_kl": 0.1},
          ("minimax", "ring8", 0): {"modes_covered": 2.0, "reverse_kl": math.inf},
          ("nsgan", "digits", 0): {"domain_fd": 3.0},
          ("wgan_gp", "digits", 0): {"domain_fd": 9.0},
          ("lsgan", "digits", 0): {"domain_fd": 1.5}}


def record(variant: str, dataset: str, seed: int, metrics: dict, status: str = "completed") -> dict:
    rid = f"{variant}-{dataset}-s{seed}-0123456789"
    return {"run_id": rid, "variant": variant, "dataset": dataset, "seed": seed, "status": status, "steps": 100,
            "metrics": metrics if status == "completed" else {}, "protocol": {}, "group": "toy",
            "config": {"variant": variant, "data": dataset, "seed": seed}, "history": [],
            "finished_at": f"2026-01-01T00:00:0{seed}+00:00"}


@pytest.fixture
def runs() -> list[dict]:
    return [record(v, d, s, m) for (v, d, s), m in SCORES.items()] + [record("ebgan", "ring8", 0, {}, "failed")]


@pytest.fixture
def no_network(monkeypatch):
    """Any W&B API access (entity lookup, save) fails the test."""
    def refuse(*a, **k):
        pytest.fail("the report builder called the W&B API")

    monkeypatch.setattr(interface, "_get_api", refuse)
    monkeypatch.setattr(wr.Report, "save", refuse)


def grids(report) -> dict[str, wr.PanelGrid]:
    """Each dataset's panel grid, keyed by the H2 heading before it."""
    out, heading = {}, None
    for block in report.blocks:
        if isinstance(block, wr.H2):
            heading = block.text if isinstance(block.text, str) else "".join(map(str, block.text))
        elif isinstance(block, wr.PanelGrid):
            out[heading] = block
    return out


def leaderboard_variants(markdown: str) -> list[str]:
    return [line.split("|")[2].strip() for line in markdown.splitlines() if line.startswith("| ") and
            line.split("|")[1].strip().isdigit()]


def test_each_dataset_has_a_leaderboard_a_curve_by_variant_and_samples(runs, no_network):
    report = build_wandb_report(runs, project="gb-test", entity="team")
    assert report.title == "GANBench: toy" and report.project == "gb-test"
    by_heading = grids(report)
    assert list(by_heading) == ["digits: ranked by domain_fd ↓", "ring8: ranked by modes_covered ↑"]
    for heading, grid in by_heading.items():
        dataset, metric = heading.split(":")[0], heading.split()[-2]
        board, curve, media = grid.panels
        assert isinstance(board, wr.MarkdownPanel) and f"{metric} " in board.markdown
        assert isinstance(curve, wr.LinePlot) and curve.x == "iteration" and curve.y == [f"eval/{metric}"]
        assert isinstance(curve.groupby, wr.Config) and curve.groupby.name == "run.variant"
        assert isinstance(media, wr.MediaBrowser) and media.media_keys == ["samples"]
        (runset,) = grid.runsets
        assert runset.project == "gb-test" and runset.entity == "team"
        names = sorted(r["run_id"] for r in runs if r["dataset"] == dataset and r["status"] == "completed")
        leaves = expr.expr_to_filters(runset.filters).filters
        assert [f.value for f in leaves if f.key.name == "displayName"] == [names]
        assert [f.value for f in leaves if f.key.name == "jobType"] == ["train"]
    # ranked best first in each dataset's direction (median over seeds; one seed has no interval, so ranks
    # tie at 1 except where two-seed intervals separate); the failed variant has no score and no line
    ring8 = by_heading["ring8: ranked by modes_covered ↑"].panels[0].markdown
    assert leaderboard_variants(ring8) == ["wgan_gp", "nsgan", "minimax"] and "ebgan" not in ring8
    assert "| nsgan | 7 [6, 8] | 2 |" in ring8
    digits = by_heading["digits: ranked by domain_fd ↓"].panels[0].markdown
    assert leaderboard_variants(digits) == ["lsgan", "nsgan", "wgan_gp"]
    # the spec W&B receives (serialised without an entity: with one, W&B looks the project up online)
    spec = json.loads(build_wandb_report(runs)._to_model().model_dump_json(by_alias=True, exclude_none=True))
    text = json.dumps(spec)
    assert '"groupBy": "run.value.variant"' in text and '"xAxis": "iteration"' in text


def test_a_dataset_ranks_lower_better_metrics_ascending_and_an_infinite_score_last(no_network):
    runs = [record(v, "ring8", s, {"reverse_kl": kl, "modes_covered": 8.0})
            for v, kls in (("a", (math.inf, math.inf)), ("b", (0.5, 0.6)), ("c", (0.1, 0.2))) for s, kl in enumerate(kls)]
    report = build_wandb_report(runs)
    board = grids(report)["ring8: ranked by modes_covered ↑"].panels[0].markdown
    assert leaderboard_variants(board) == ["a", "b", "c"]           # ties on modes_covered: by label
    from benchmark.report.aggregate import aggregate, leaderboard
    from benchmark.report.wandb_report import leaderboard_markdown

    rows = [r for r in aggregate(runs) if r.metric == "reverse_kl"]
    kl_board = leaderboard_markdown(leaderboard(rows), "ring8")
    assert leaderboard_variants(kl_board) == ["c", "b", "a"] and "| 1 | c |" in kl_board


def test_without_a_key_it_is_built_and_not_saved(runs, no_network, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    assert publish_wandb_report(runs) is None
    out = capsys.readouterr().out
    assert "built W&B report 'GANBench: toy' (6 panels" in out and "not saved" in out


def test_with_a_key_it_is_saved(runs, monkeypatch, capsys):
    saved = []
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_ENTITY", "team")
    monkeypatch.setattr(interface, "_get_api", lambda: pytest.fail("entity looked up although WANDB_ENTITY is set"))
    monkeypatch.setattr(wr.Report, "save", lambda self, **k: saved.append(self) or self)
    monkeypatch.setattr(wr.Report, "url", property(lambda self: f"https://wandb.ai/{self.entity}/{self.project}/r"))
    assert publish_wandb_report(runs, project="gb") == "https://wandb.ai/team/gb/r"
    assert len(saved) == 1 and saved[0].entity == "team"
    assert "saved: https://wandb.ai/team/gb/r" in capsys.readouterr().out


def test_report_command_builds_it_after_the_local_report(runs, tmp_path, no_network, monkeypatch, capsys):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    for r in runs:
        atomic_write_json(tmp_path / "runs" / f"{r['run_id']}.json", r)
    assert main(["report", "--results-dir", str(tmp_path), "--wandb-report", "--project", "gb"]) == 0
    out = capsys.readouterr().out
    kept = tmp_path / "wandb_report.json"
    assert "summary.md" in out and f"in project 'gb'), kept in {kept}; not saved to W&B" in out
    assert f"publish it later with `python -m benchmark report --publish-wandb-report {kept}`" in out
    assert json.loads(kept.read_text())["project"]["name"] == "gb"


def test_a_report_kept_offline_is_published_later_as_built(runs, tmp_path, no_network, monkeypatch, capsys):
    """`--wandb-report` offline keeps the view spec; `--publish-wandb-report FILE` saves that very report once W&B
    is online, with the key's entity filled in."""
    from benchmark.report.wandb_report import read_report_file

    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", "/nonexistent")
    kept = tmp_path / "kept.json"
    assert publish_wandb_report(runs, project="gb", out=kept) is None
    built = build_wandb_report(runs, project="gb")
    again = read_report_file(kept)                                           # nothing lost on the way
    assert again._to_model().model_dump_json(by_alias=True, exclude_none=True) == kept.read_text()
    assert again.title == built.title and [type(b) for b in again.blocks] == [type(b) for b in built.blocks]
    assert main(["report", "--publish-wandb-report", str(kept)]) == 2       # offline: refused, says why
    assert "needs W&B online with an API key" in capsys.readouterr().err
    saved = []
    monkeypatch.setenv("WANDB_API_KEY", "x" * 40)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_ENTITY", "team")
    monkeypatch.setattr(wr.Report, "save", lambda self, **k: saved.append(self) or self)
    monkeypatch.setattr(wr.Report, "url", property(lambda self: f"https://wandb.ai/{self.entity}/{self.project}/r"))
    assert main(["report", "--publish-wandb-report", str(kept)]) == 0
    (report,) = saved
    assert report.entity == "team" and report.title == built.title and len(report.blocks) == len(built.blocks)
    assert all(rs.entity == "team" for b in report.blocks for rs in getattr(b, "runsets", None) or [])
    assert "published W&B report" in capsys.readouterr().out


def test_report_logs_no_wandb_run_unless_asked(runs, tmp_path, monkeypatch, capsys):
    """Every `report` used to add a W&B run of job type report; now only `--wandb auto|online|offline` does,
    and `--wandb disabled` is that option, not an abbreviation of --wandb-report."""
    import benchmark.report as report_pkg

    for r in runs:
        atomic_write_json(tmp_path / "runs" / f"{r['run_id']}.json", r)
    calls = []
    monkeypatch.setattr(report_pkg, "log_wandb_table", lambda runs, rows, mode="auto": calls.append(mode))
    assert main(["report", "--results-dir", str(tmp_path)]) == 0
    assert main(["report", "--results-dir", str(tmp_path), "--wandb", "disabled"]) == 0
    assert calls == [] and "W&B report" not in capsys.readouterr().out
    assert main(["report", "--results-dir", str(tmp_path), "--wandb", "offline"]) == 0
    assert calls == ["offline"]
