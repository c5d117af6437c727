"""Random search in sweep files, W&B export of it, tuned recipes and the guard on shared overrides."""
import io
import json
import math
import random

import pytest
import yaml

from benchmark.cli import main
from benchmark.io import atomic_write_json
from benchmark.train import sweep as S
from benchmark.train.options import resolve
from benchmark.train.recipes import load_recipes, write_recipes
from benchmark.train.search import Dimension, parse_search
from benchmark.train.tune import tune
from models import ConfigError

TINY = {"iterations": 4, "hidden": 8, "log_every": 2, "batch_size": 32, "save_samples": 16, "num_samples": 256,
        "sample_every": 0}
SPACE = {"default": {"lr_g": {"log_uniform": [1e-4, 1e-2]}, "beta1": {"choice": [0.0, 0.5]}},
         "wgan": {"clip": {"uniform": [0.005, 0.05]}, "n_critic": {"int_uniform": [1, 3]}}}


def spec(**kw):
    base = {"name": "s", "seeds": [0, 1], "variants": ["nsgan", "wgan"], "datasets": ["ring8"],
            "options": dict(TINY), "search": {"trials": 3, "seed": 7, "spaces": SPACE}}
    base.update(kw)
    return base


@pytest.mark.parametrize("search, message", [
    ({"trials": 0, "spaces": SPACE}, "trials must be an integer >= 1"),
    ({"trials": 2, "spaces": SPACE, "budget": 3}, "unknown search key"),
    ({"trials": 2, "spaces": {"nsgam": {"lr_g": {"choice": [1e-3]}}}}, "unknown variant.*nsgam"),
    ({"trials": 2, "spaces": {"default": {"lr_g": {"normal": [0, 1]}}}}, "must be one of"),
    ({"trials": 2, "spaces": {"default": {"lr_g": {"uniform": [1e-2, 1e-3]}}}}, "low must be < high"),
    ({"trials": 2, "spaces": {"default": {"lr_g": {"log_uniform": [0, 1e-3]}}}}, "log_uniform needs low > 0"),
    ({"trials": 2, "spaces": {"default": {"lr_g": {"uniform": [1e-4, float("inf")]}}}}, "two finite numbers"),
    ({"trials": 2, "spaces": {"default": {"clip": {"choice": [0.1]}}}}, "clip is not an option of nsgan"),
    ({"trials": 2, "keep": 3, "spaces": SPACE}, "search.keep must be a whole number from 1 to search.trials"),
    ({"trials": 2, "keep": True, "spaces": SPACE}, "search.keep must be"),
])
def test_bad_search_sections_are_rejected_with_the_fix(search, message):
    with pytest.raises(ConfigError, match=message):
        S.plan(spec(search=search))


def test_draws_are_in_range_deterministic_and_independent_of_the_other_variants():
    s = parse_search({"trials": 50, "seed": 3, "spaces": SPACE}, ["nsgan", "wgan"])
    draws = [s.params("nsgan", k) for k in range(1, 50)]
    assert all(1e-4 <= d["lr_g"] <= 1e-2 and d["beta1"] in (0.0, 0.5) for d in draws)
    logs = [math.log10(d["lr_g"]) for d in draws]                 # log-uniform: both decades are visited
    assert min(logs) < -3 < max(logs)
    assert s.params("nsgan", 0) == {}                             # trial 0: the variant's own recipe
    alone = parse_search({"trials": 50, "seed": 3, "spaces": SPACE}, ["nsgan"])
    assert [alone.params("nsgan", k) for k in range(1, 50)] == draws
    other_seed = parse_search({"trials": 50, "seed": 4, "spaces": SPACE}, ["nsgan"])
    assert [other_seed.params("nsgan", k) for k in range(1, 50)] != draws
    ints = {Dimension("n", "int_uniform", (1, 3)).draw(random.Random(i)) for i in range(100)}
    assert ints == {1, 2, 3}


def test_expansion_runs_every_trial_with_every_seed_and_annotates_it():
    planned = S.plan(spec())
    assert len(planned) == 2 * 3 * 2                              # variants x trials x seeds
    by = {(r.options["variant"], r.trial["index"], r.options["seed"]): r for r in planned}
    assert by[("wgan", 0, 0)].trial["params"] == {}               # wgan's own clip/n_critic: not set
    drawn = by[("wgan", 2, 0)]
    assert set(drawn.trial["params"]) == {"clip", "n_critic"} and drawn.options["clip"] == drawn.trial["params"]["clip"]
    assert by[("wgan", 2, 1)].trial == drawn.trial                # the same draw for each seed
    assert "trial" not in drawn.options                           # an annotation, not a run option
    assert len({r.run_id for r in planned}) == len(planned)


def test_a_searched_sweep_records_its_trials_and_tune_writes_recipes(tmp_path, capsys):
    s = spec(variants=["nsgan"], seeds=[0], search={"trials": 2, "seed": 1, "spaces": SPACE})
    recs = S.run_sweep(s, results_dir=str(tmp_path), stream=io.StringIO())
    assert [r["status"] for r in recs] == ["completed"] * 2
    assert sorted(r["trial"]["index"] for r in recs) == [0, 1]
    on_disk = json.loads((tmp_path / "runs" / f"{recs[1]['run_id']}.json").read_text())
    assert on_disk["trial"] == recs[1]["trial"]
    out = tmp_path / "recipes.yaml"
    recipes = tune(s, tmp_path, out)
    entry = recipes["nsgan"]["ring8"]
    assert set(entry["options"]) == {"lr_g", "beta1"} and entry["provenance"]["trials"] == 2
    assert load_recipes(out) == recipes


def test_keep_runs_every_trial_on_the_first_seed_and_only_the_best_on_the_others(tmp_path, capsys):
    s = spec(variants=["nsgan"], seeds=[0, 1, 2], search={"trials": 4, "seed": 1, "keep": 2, "spaces": SPACE},
             options={**TINY, "iterations": 30})
    S.run_sweep(s, results_dir=str(tmp_path), stream=io.StringIO())
    recs = [json.loads(p.read_text()) for p in (tmp_path / "runs").glob("*.json")]
    first = {r["trial"]["index"]: r["metrics"]["mmd"] for r in recs if r["seed"] == 0}
    assert sorted(first) == [0, 1, 2, 3]                         # every trial on the first seed
    best_two = sorted(sorted(first, key=lambda k: (first[k], k))[:2])   # ring8 ranks on mmd, smaller wins
    later = {(r["trial"]["index"], r["seed"]) for r in recs if r["seed"] != 0}
    assert later == {(k, seed) for k in best_two for seed in (1, 2)}   # only the kept trials go on
    again = S.run_sweep(s, results_dir=str(tmp_path), stream=io.StringIO())
    assert again == []                                            # a re-run finds the same cut, all done
    recipes = tune(s, tmp_path, tmp_path / "recipes.yaml")
    prov = recipes["nsgan"]["ring8"]["provenance"]
    assert prov["seeds"] == 3 and prov["kept"] == 2 and prov["trials"] == 4 and prov["trial"] in best_two
    assert "cut by search.keep=2" in capsys.readouterr().err      # one line, not a warning per pruned trial


def record(tmp_path, variant, data, seed, config, metrics, status="completed", group="s", trial=None):
    rec = {"run_id": f"{variant}-{data}-{seed}-{abs(hash(json.dumps(config, sort_keys=True)))}", "variant": variant,
           "dataset": data, "seed": seed, "status": status, "metrics": metrics, "group": group,
           "config": {**config, "seed": seed}, "history": []}
    if trial is not None:
        rec["trial"] = {"sweep": group, "index": trial, "params": config}
    atomic_write_json(tmp_path / "runs" / f"{rec['run_id']}.json", rec)


def test_tune_takes_the_best_median_counts_failed_seeds_as_worst_and_breaks_ties(tmp_path):
    ring = lambda modes, hq: {"mmd": 0.01, "modes_covered": modes, "high_quality": hq, "reverse_kl": 0.1}
    # trial 0: medians 8 modes / 70 HQ; trial 1: one great seed but two failed -> worst median; trial 2: ties
    # trial 0 on modes and wins on high_quality; trial 3 belongs to another sweep and must be ignored
    for seed, (m, hq) in enumerate([(8, 60), (8, 70), (7, 90)]):
        record(tmp_path, "nsgan", "ring8", seed, {"lr_g": 1e-3}, ring(m, hq), trial=0)
        record(tmp_path, "nsgan", "ring8", seed, {"lr_g": 3e-3}, ring(8, 80), trial=2)
        record(tmp_path, "nsgan", "ring8", seed, {"lr_g": 9e-3}, ring(8, 99), group="other", trial=3)
    record(tmp_path, "nsgan", "ring8", 0, {"lr_g": 2e-3}, ring(8, 99), trial=1)
    record(tmp_path, "nsgan", "ring8", 1, {"lr_g": 2e-3}, {}, status="failed", trial=1)
    record(tmp_path, "nsgan", "ring8", 2, {"lr_g": 2e-3}, ring(8, 99), status="diverged", trial=1)
    # digits: lower domain_fd wins
    record(tmp_path, "nsgan", "digits", 0, {"lr_g": 1e-3}, {"domain_fd": 30.0}, trial=0)
    record(tmp_path, "nsgan", "digits", 0, {"lr_g": 5e-4}, {"domain_fd": 12.0}, trial=1)
    s = spec(variants=["nsgan"], datasets=["ring8", "digits"], seeds=[0, 1, 2],
             search={"trials": 3, "seed": 1, "spaces": SPACE})
    path = tmp_path / "recipes.yaml"
    write_recipes(path, {"wgan": {"ring8": {"options": {"clip": 0.02}, "provenance": {"sweep": "old"}}}})
    recipes = tune(s, tmp_path, path)
    ring8 = recipes["nsgan"]["ring8"]
    assert ring8["options"]["lr_g"] == 3e-3 and ring8["provenance"]["trial"] == 2
    assert ring8["provenance"]["trials"] == 3 and ring8["provenance"]["medians"]["high_quality"] == 80
    assert ring8["provenance"]["paper_recipe_medians"]["high_quality"] == 70
    assert recipes["nsgan"]["digits"]["options"]["lr_g"] == 5e-4
    assert recipes["wgan"]["ring8"]["options"] == {"clip": 0.02}           # other entries are kept
    assert tune({**s, "variants": "all"}, tmp_path, path)["nsgan"]["ring8"] == ring8   # `variants: all` works
    with pytest.raises(ConfigError, match="no runs of sweep 'nothing'"):
        tune({**s, "name": "nothing"}, tmp_path, path)
    with pytest.raises(ConfigError, match="needs a sweep with a `search:`"):
        tune({**s, "search": None}, tmp_path, path)


def test_recipes_apply_per_variant_and_dataset_and_bad_files_are_named(tmp_path):
    path = tmp_path / "recipes.yaml"
    write_recipes(path, {"nsgan": {"ring8": {"options": {"lr_g": 7e-4}, "provenance": {}}}})
    s = S.SweepSpec({"name": "d", "seeds": [0], "variants": ["nsgan", "lsgan"], "datasets": ["ring8", "grid25"],
                     "options": dict(TINY), "recipes": "recipes.yaml"}, base_dir=tmp_path)
    lr = {(r.options["variant"], r.options["data"]): resolve(r.options).config()["lr_g"] for r in S.plan(s)}
    assert lr[("nsgan", "ring8")] == 7e-4 and lr[("nsgan", "grid25")] == 2e-4 and lr[("lsgan", "ring8")] == 2e-4
    path.write_text(yaml.safe_dump({"nsgan": {"ring8": {"options": {"clip": 0.1}}}}))
    with pytest.raises(ConfigError, match="sets clip, not options of nsgan"):
        S.plan(s)
    path.write_text(yaml.safe_dump({"nsgam": {}}))
    with pytest.raises(ConfigError, match="unknown variant 'nsgam'"):
        S.plan(s)
    with pytest.raises(ConfigError, match="not found: write it with `python -m benchmark tune"):
        S.plan(s.replace(recipes="missing.yaml"))


def test_a_shared_override_never_silently_replaces_a_variants_optimiser_recipe(tmp_path, capsys):
    s = {"name": "d", "seeds": [0], "variants": ["nsgan", "wgan"], "datasets": ["ring8"], "options": dict(TINY),
         "dataset_options": {"ring8": {"lr_d": 2e-3}}}
    with pytest.raises(ConfigError, match=r"replace wgan's optimiser recipe on ring8: lr_d=0.002 \(its recipe: 5e-05\)"
                                          r".*variant_options.wgan"):
        S.plan(s)
    S.plan({**s, "dataset_options": {}, "variant_options": {"wgan": {"lr_d": 2e-3}}})      # explicit: fine
    with pytest.raises(ConfigError, match="lr_d=0.0002 .its recipe: 5e-05"):           # `options` is shared too
        S.plan({**s, "options": {**TINY, "lr_d": 2e-4}, "dataset_options": {}})
    S.plan({**s, "variants": ["nsgan"], "options": {**TINY, "lr_d": 2e-3}})   # nsgan sets no lr of its own
    planned = S.plan({**s, "override_recipes": True})
    assert "warning: a shared sweep option would replace wgan's" in capsys.readouterr().err
    assert {resolve(r.options).config()["lr_d"] for r in planned} == {2e-3}


def test_wandb_export_of_a_search_is_valid_for_wandbs_engine_and_its_runs_resolve(tmp_path, capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sweeps

    sw = tmp_path / "search.yaml"
    sw.write_text(yaml.safe_dump({**spec(), "depth": 3}))                # a top-level option
    out = tmp_path / "wandb"
    assert main(["sweep", str(sw), "--export-wandb", str(out)]) == 0
    files = sorted(out.glob("*.yaml"))
    assert [f.name for f in files] == ["s-nsgan-ring8.yaml", "s-wgan-ring8.yaml"]
    cfg = yaml.safe_load(files[1].read_text())
    assert cfg["method"] == "random" and cfg["run_cap"] == 3 * 2
    assert cfg["parameters"]["depth"] == {"value": 3} and cfg["parameters"]["iterations"] == {"value": 4} and cfg["parameters"]["hidden"] == {"value": 8}
    assert sweeps.schema_violations_from_proposed_config(cfg) == []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        drawn = sweeps.next_runs(sweeps.SweepConfig(cfg), [], n=5)
    for run in drawn:                               # what an agent would pass as --name=value: a valid run
        options = {k: v["value"] for k, v in run.config.items()}
        assert 0.005 <= options["clip"] <= 0.05 and options["variant"] == "wgan"
        resolve(options)
    bad = {**cfg, "parameters": {**cfg["parameters"], "lr_g": {"distribution": "log_uniform_values", "min": -1,
                                                                 "max": 1}}}
    with pytest.raises(ConfigError, match="W&B sweep configuration 's-wgan-ring8' is invalid"):
        S.check_wandb_sweep_config(bad)
