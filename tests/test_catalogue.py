"""``benchmark/catalogue.json`` (what ``list`` and ``--help`` read without importing torch) is the registries'."""
import json

from benchmark import catalogue, commands


def test_the_catalogue_file_is_fresh():
    written = catalogue.PATH.read_text(encoding="utf-8") if catalogue.PATH.exists() else ""
    assert written == catalogue.render(catalogue.build()), (
        f"{catalogue.PATH} is stale: regenerate it with `{catalogue.REGENERATE}` and commit it")


def test_commands_tables_are_the_registries():
    import datamodules
    import models
    from benchmark import score

    assert set(commands.VARIANTS) == set(models.VARIANTS)
    assert commands.DATASETS == {n: (c.kind, tuple(c.dims), tuple(c.metrics))
                                 for n, c in datamodules.DATAMODULES.items()}
    assert commands.METRICS == {n: score.metric(n).higher_is_better for n in score.METRIC_GROUPS}


def test_a_changed_registration_file_falls_back_to_the_registries(tmp_path, monkeypatch):
    """A stale fingerprint (a registration line added since the file was written) is never served."""
    stale = dict(catalogue.read(), fingerprint="0" * 16, variants={"ghost": "not registered"})
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(stale), encoding="utf-8")
    monkeypatch.setattr(catalogue, "PATH", path)
    monkeypatch.setattr(catalogue, "read", lambda path=path: json.loads(path.read_text(encoding="utf-8")))
    assert "ghost" not in catalogue.load()["variants"]
    fresh = dict(stale, fingerprint=catalogue.fingerprint())
    path.write_text(json.dumps(fresh), encoding="utf-8")
    assert "ghost" in catalogue.load()["variants"]      # a matching fingerprint is trusted as written
