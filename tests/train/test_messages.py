"""Messages: evaluate rejects bad --num-real / --json before scoring, and a corrupt last checkpoint
does not promise a previous one."""
import pytest

from benchmark.cli import main
from benchmark.train import checkpoint as C

CASES = [
    ("negative num-real", lambda t: ["--num-real", "-5"], ["--num-real -5", ">= 1"]),
    ("zero num-real", lambda t: ["--num-real", "0"], ["--num-real 0", ">= 1"]),
    ("json is a directory", lambda t: ["--json", str(t)], ["is a directory", "give a file name"]),
    ("json folder missing", lambda t: ["--json", str(t / "nope" / "s.json")], ["does not exist", "choose another"]),
]


@pytest.mark.parametrize("case, extra, fragments", CASES, ids=[c[0] for c in CASES])
def test_evaluate_bad_arguments_fail_before_scoring(case, extra, fragments, tmp_path, capsys):
    code = main(["evaluate", "--images", str(tmp_path / "no-images"), "--reference", "digits", *extra(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    for f in fragments:
        assert f in err, err


def test_corrupt_only_checkpoint_does_not_promise_a_previous_one(tmp_path, capsys):
    C.checkpoint_path(tmp_path, 10).write_bytes(b"truncated")
    assert C.latest_readable(tmp_path) == (None, None)
    err = capsys.readouterr().err
    assert "no other checkpoint is left" in err and "previous one" not in err
    C.checkpoint_path(tmp_path, 5).write_bytes(b"also bad")
    C.latest_readable(tmp_path)
    err = capsys.readouterr().err
    assert err.count("falling back to the previous one") == 1 and "no other checkpoint is left" in err
