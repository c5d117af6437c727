"""The perf harness runs both loops for every registered variant (tiny sizes; no timing is asserted)."""
import pytest

import models
from benchmark.perf import compare_loops, ganbench_rate, plain_loop_rate, to_markdown


@pytest.mark.parametrize("variant", sorted(models.VARIANTS))
def test_both_loops_run_every_variant(variant):
    opts = {"hidden": 8, "log_every": 2}
    assert plain_loop_rate(variant, "ring8", 32, 3, 1, opts) > 0
    assert ganbench_rate(variant, "ring8", 32, 3, 1, opts) > 0


def test_report_table_from_a_comparison():
    row = compare_loops("nsgan", "ring8", 32, 3, 1, 2, {"hidden": 8, "log_every": 2})
    assert row["ratio"]["min"] <= row["ratio"]["median"] <= row["ratio"]["max"]
    md = to_markdown({"machine": "test", "command": "python -m benchmark perf", "loops": [row]})
    assert "| nsgan (mlp) | ring8 | 32 |" in md and "overhead" in md
