"""Run records are untrusted input: their text is escaped in summary.md / report.html, the files they name are
opened only inside the results directory (never unpickled), and malformed records are skipped with a warning."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from benchmark.io import atomic_write_json, load_runs, record_file
from benchmark.report import build_report

XSS = "<script>alert(1)</script>"
LINK = "[click](javascript:alert(1))"


def ring_record(root: Path, run_id: str, seed: int, **extra) -> dict:
    rec = {"run_id": run_id, "variant": "nsgan", "dataset": "ring8", "seed": seed, "status": "completed",
           "steps": 10, "metrics": {"modes_covered": 8.0, "high_quality": 50.0},
           "config": {"variant": "nsgan", "note": f"{XSS}{seed}"}, "finished_at": "2026-01-01T00:00:00", **extra}
    atomic_write_json(root / "runs" / f"{run_id}.json", rec)
    return rec


@pytest.fixture
def hostile(tmp_path):
    root = tmp_path / "results"
    (root / "samples").mkdir(parents=True)
    outside = tmp_path / "secret.npy"
    np.save(outside, np.zeros((64, 2), dtype=np.float32))
    secret_png = tmp_path / "secret.png"
    secret_png.write_bytes(b"\x89PNG\r\n\x1a\nTOP-SECRET-BYTES" * 4)
    ring_record(root, "nsgan-ring8-s0-a", 0, samples=str(outside), sample_plot=str(secret_png))
    ring_record(root, "nsgan-ring8-s1-b", 1, samples="../secret.npy", sample_plot="../secret.png")
    atomic_write_json(root / "runs" / "nsgan-ring8-s2-c.json", {
        "run_id": "nsgan-ring8-s2-c", "variant": "nsgan", "dataset": "ring8", "seed": 2, "status": "failed",
        "steps": 0, "metrics": {}, "config": {"variant": "nsgan"}, "finished_at": "2026-01-01T00:00:00",
        "error": f"RuntimeError: {XSS} {LINK} | `x`\n# heading"})
    return root, outside, secret_png


def test_record_text_is_escaped_and_outside_files_never_opened(hostile, monkeypatch):
    root, outside, secret_png = hostile
    opened = []
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda f, *a, **k: (opened.append(Path(f)), real_load(f, *a, **k))[1])
    build_report(root)
    md = (root / "summary.md").read_text()
    page = (root / "report.html").read_text()
    for text in (md, page):
        assert "<script>" not in text and "&lt;script&gt;" in text
    assert "](javascript" not in md and "\n# heading" not in md
    assert not any(root.resolve() not in p.resolve().parents for p in opened), opened
    assert base64.b64encode(secret_png.read_bytes()).decode()[:40] not in page


def test_record_file_refuses_paths_outside_the_results_dir(tmp_path):
    root = tmp_path / "r"
    (root / "samples").mkdir(parents=True)
    (root / "samples" / "a.npy").write_bytes(b"x")
    (tmp_path / "b.npy").write_bytes(b"x")
    (root / "samples" / "link.npy").symlink_to(tmp_path / "b.npy")
    assert record_file(root, "samples/a.npy") == (root / "samples" / "a.npy").resolve()
    for bad in ("../b.npy", str(tmp_path / "b.npy"), "samples/link.npy", "samples/../../b.npy", 3, None, ["x"],
                "samples/a.npy\x00"):
        assert record_file(root, bad) is None, bad


def test_pickled_samples_inside_the_results_dir_are_not_unpickled(tmp_path):
    from benchmark.io import load_samples

    marker = tmp_path / "PWNED"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    root = tmp_path / "r"
    (root / "samples").mkdir(parents=True)
    np.save(root / "samples" / "p.npy", np.array([Payload()], dtype=object), allow_pickle=True)
    assert load_samples(root, "samples/p.npy") is None and not marker.exists()


@pytest.mark.parametrize("field, value", [
    ("dataset", None), ("metrics", "fid=3"), ("metrics", {"modes_covered": "8"}), ("seed", [0, 1]),
    ("finished_at", None), ("run_id", "../../evil"), ("variant", ["nsgan"]), ("config", "x"), ("steps", "10"),
    ("trial", [1]), ("error", {"a": 1}), ("samples", 5), ("seed", True),
])
def test_malformed_records_are_skipped_with_one_warning(tmp_path, capsys, field, value):
    root = tmp_path / "r"
    ring_record(root, "nsgan-ring8-s0-a", 0)
    rec = json.loads((root / "runs" / "nsgan-ring8-s0-a.json").read_text())
    if value is None and field == "dataset":
        del rec["dataset"]
    else:
        rec[field] = value
    (root / "runs" / "bad.json").write_text(json.dumps(rec))
    runs = load_runs(root)
    assert [r["run_id"] for r in runs] == ["nsgan-ring8-s0-a"]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: skipping run file") and "bad.json" in err[0]
