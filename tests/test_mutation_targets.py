"""Every mutant of ``tests/mutation_check.py`` still finds its source line: a reformatted line fails here, loudly,
instead of silently turning the mutant into one that tests nothing."""
import pytest

from tests import mutation_check


def test_every_mutant_text_is_found_exactly_once():
    assert mutation_check.unmatched() == []


def test_a_stale_mutant_stops_the_check_before_any_file_changes(monkeypatch, capsys):
    name, rel, old, new, tests = mutation_check.MUTANTS[0]
    before = (mutation_check.ROOT / rel).read_text()
    monkeypatch.setattr(mutation_check, "MUTANTS", [(name, rel, old + "  # reformatted", new, tests)])
    monkeypatch.setattr(mutation_check, "run", lambda tests: pytest.fail("no mutant may run"))
    assert mutation_check.main() == 2
    assert "error: mutants whose source text is not found exactly once" in capsys.readouterr().err
    assert (mutation_check.ROOT / rel).read_text() == before
