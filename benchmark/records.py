"""Typed run records: :class:`RunRecord` is the run JSON (``results/runs/<run-id>.json``) with its fields' types.

The file on disk is unchanged: :meth:`RunRecord.from_json` reads the mapping (checking the type of every field
it knows, so a malformed record is refused with the reason) and :meth:`RunRecord.to_json` gives back exactly
that mapping: a field absent from the file stays absent, fields this class does not name are kept in
``extra``. A leaf module: standard library only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


class _Absent:
    """The value of a field the record does not hold (distinct from a JSON ``null``)."""

    _instance: "_Absent | None" = None

    def __new__(cls) -> "_Absent":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()
NUMBER = (int, float)


def _is(value: Any, types: tuple[type, ...] | type, nullable: bool = False) -> bool:
    if value is None:
        return nullable
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        return False                                   # JSON true/false is not a number here
    return isinstance(value, types)


@dataclass
class RunRecord:
    """One run's record. Every field may be absent (old files, fixtures); ``variant`` is required.

    Attributes:
        run_id, variant, dataset: names; seed: the run's seed; status: ``completed``/``diverged``/
            ``failed``/``interrupted``; steps: GAN iterations trained; wall_time_s: seconds.
        metrics: metric -> value (``None`` when unavailable; ±inf/NaN restored from ``nonfinite``);
            protocol: metric -> how it was computed; config: the flat run options (the run's identity).
        history: training rows (``iteration`` and logged scalars); versions: package versions.
        group: the sweep's name or ``None``; trial: ``{"sweep", "index", "params"}`` for a search trial.
        extra: every other field of the file, as read.
    """

    variant: str
    run_id: str = ABSENT
    dataset: str = ABSENT
    seed: int = ABSENT
    status: str = ABSENT
    steps: int = ABSENT
    wall_time_s: float = ABSENT
    metrics: dict[str, float | None] = ABSENT
    protocol: dict[str, dict[str, Any]] = ABSENT
    config: dict[str, Any] = ABSENT
    history: list[dict[str, Any]] = ABSENT
    versions: dict[str, str] = ABSENT
    group: str | None = ABSENT
    trial: dict[str, Any] | None = ABSENT
    extra: dict[str, Any] = field(default_factory=dict)

    # field -> (accepted types, JSON null accepted)
    TYPES = {"variant": (str, False), "run_id": (str, False), "dataset": (str, False), "seed": (int, False),
             "status": (str, False), "steps": (int, False), "wall_time_s": (NUMBER, False),
             "metrics": (dict, False), "protocol": (dict, False), "config": (dict, False),
             "history": (list, False), "versions": (dict, False), "group": (str, True), "trial": (dict, True)}

    @classmethod
    def from_json(cls, data: Any) -> "RunRecord":
        """The record of a run file's mapping; ``ValueError`` says which field has the wrong type."""
        if not isinstance(data, dict):
            raise ValueError(f"holds a JSON {type(data).__name__}, not a run record (a mapping)")
        if "variant" not in data:
            raise ValueError("has no 'variant': not a run record")
        for name, (types, nullable) in cls.TYPES.items():
            if name in data and not _is(data[name], types, nullable):
                want = " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
                raise ValueError(f"has {name}={data[name]!r}: expected {want}{' or null' if nullable else ''}")
        for k, v in (data.get("metrics") or {}).items():
            if not _is(v, NUMBER, nullable=True):
                raise ValueError(f"has metrics.{k}={v!r}: expected a number or null")
        if isinstance(data.get("history"), list) and not all(isinstance(row, dict) for row in data["history"]):
            raise ValueError("has a history row that is not a mapping")
        trial = data.get("trial")
        if isinstance(trial, dict) and "index" in trial and not _is(trial["index"], int, nullable=True):
            raise ValueError(f"has trial.index={trial['index']!r}: expected an integer")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def to_json(self) -> dict[str, Any]:
        """The mapping written to disk: the fields the record holds, then ``extra`` (the same keys as read)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "extra" and getattr(self, f.name) is not ABSENT}
        out.update(self.extra)
        return out

    def get(self, name: str, default: Any = None) -> Any:
        """A field or extra field by name (``default`` when absent), as on the mapping."""
        value = getattr(self, name, ABSENT) if name != "extra" else ABSENT
        if value is ABSENT:
            return self.extra.get(name, default)
        return value


__all__ = ["ABSENT", "RunRecord"]
