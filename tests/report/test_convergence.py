"""The convergence flag: runs still improving over their last 20% by more than the seed spread are named."""
from benchmark.report.convergence import convergence, convergence_note, late_gain


def run(variant, seed, curve, metric="high_quality", dataset="ring8", step=100):
    history = [{"iteration": step * (i + 1), f"eval/{metric}": v, "d_loss": 0.5} for i, v in enumerate(curve)]
    return {"run_id": f"{variant}-{seed}", "variant": variant, "dataset": dataset, "seed": seed,
            "status": "completed", "history": history, "metrics": {metric: curve[-1]}}


def test_late_gain_reads_the_point_at_80_percent_and_orients_lower_is_better():
    assert late_gain(run("a", 0, [0, 10, 20, 30, 40, 50, 60, 70, 80, 95])["history"], "high_quality") == (25, 95)   # at 800 of 1000: 70
    fd = run("a", 0, [90, 50, 40, 30, 20], metric="domain_fd", dataset="digits")["history"]
    assert late_gain(fd, "domain_fd") == (10, 20)              # 30 -> 20 is a gain of 10 for a lower-is-better
    assert late_gain([{"iteration": 10, "eval/high_quality": 3.0}], "high_quality") is None


def test_improving_beyond_the_seed_spread_is_flagged_and_plateaus_are_not():
    rising = [run("nsgan", s, [10, 20, 30, 40, 50 + s, 60 + s, 70, 80, 90, 99 - s]) for s in range(3)]
    flat = [run("lsgan", s, [10, 50, 80, 80, 81, 80, 80, 80, 81 - s, 80 + s]) for s in range(3)]
    noisy = [run("wgan", s, [0, 0, 0, 0, 0, 0, 0, v, v, v + 2]) for s, v in enumerate([0, 40, 80])]
    cells = {c.variant: c for c in convergence(rising + flat + noisy)}
    assert cells["nsgan"].improving and cells["nsgan"].seeds == 3
    assert not cells["lsgan"].improving
    assert not cells["wgan"].improving                          # +2 late gain, but the seeds differ by ~40
    note = convergence_note(rising + flat, "ring8", "high_quality")
    assert note.startswith("**Not converged**: 1 of 2 variants") and "nsgan" in note and "lsgan" not in note
    assert convergence_note(flat, "ring8", "high_quality").startswith("Convergence: every variant")
    assert "unknown" in convergence_note(flat, "ring8", "modes_covered")


def test_the_summary_says_whether_each_dataset_converged(tmp_path):
    from benchmark.io import atomic_write_json
    from benchmark.report import build_report

    for s in range(2):
        r = run("nsgan", s, [1, 2, 3, 4, 5, 6, 7, 8, 9, 12 + s], metric="modes_covered")
        r.update(config={"seed": s}, steps=1000, wall_time_s=1.0)
        atomic_write_json(tmp_path / "runs" / f"{r['run_id']}.json", r)
    build_report(tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "**Not converged**: 1 of 1 variants were still improving modes_covered" in md
    assert "Not converged" in (tmp_path / "report.html").read_text()
