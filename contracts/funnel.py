"""The funnel (contract 4): per stage, documents, input bytes, characters and words that came in,
were kept, dropped (per reason) and errored (per reason), absolute and as a share of the input.

Built from one small summary per input record, `(final_stage_index, status, reason, bytes, trace)`,
so the identity `in = kept + Σ dropped + Σ errored` holds by construction at every stage and can
be checked from the file alone (`check_accounting`).
"""

from __future__ import annotations

METRICS = ("docs", "bytes", "chars", "words")


def summarize(outcome, stage_index: dict[str, int]) -> tuple:
    """An `Outcome` as the compact tuple the funnel aggregates."""
    end = len(outcome.trace) - 1 if outcome.status == "kept" else stage_index[outcome.stage]
    return (end, outcome.status, outcome.reason, int(outcome.doc.get("payload_bytes") or 0), tuple(outcome.trace))


class Funnel:
    """Accumulates summaries; `merge` makes it a Beam CombineFn accumulator as it is."""

    def __init__(self):
        # A plain dict (not a defaultdict with a lambda): the accumulator must pickle.
        self.cells: dict[tuple[int, str, str | None], list[int]] = {}

    def _add(self, key, nbytes: int, size: tuple[int, int]) -> None:
        cell = self.cells.setdefault(key, [0, 0, 0, 0])
        cell[0] += 1
        cell[1] += nbytes
        cell[2] += size[0]
        cell[3] += size[1]

    def add(self, summary: tuple) -> Funnel:
        end, status, reason, nbytes, trace = summary
        last = end if status != "kept" else end - 1
        for i in range(last + 1):
            self._add((i, "in", None), nbytes, trace[i])
            if i < end or status == "kept":
                self._add((i, "kept", None), nbytes, trace[i + 1])
        if status != "kept":
            self._add((end, status, reason), nbytes, trace[end])
        return self

    def add_stage(
        self,
        index: int,
        status: str,
        reason: str | None,
        nbytes: int,
        size: tuple[int, int],
        out: tuple[int, int] | None = None,
    ) -> Funnel:
        """One document at one stage only: a cross-document stage (dedup) after the chain, whose
        earlier stages the document was already counted at. `out`: the text's size leaving the
        stage when the stage changed it (line dedup)."""
        self._add((index, "in", None), nbytes, size)
        if status == "kept":
            self._add((index, "kept", None), nbytes, out or size)
        else:
            self._add((index, status, reason), nbytes, size)
        return self

    def to_cells(self) -> list[list]:
        """The cells as JSON-able rows (a range's partial funnel, stored with its marker)."""
        return [
            [*key, *cell]
            for key, cell in sorted(self.cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or ""))
        ]

    @classmethod
    def from_cells(cls, rows: list[list]) -> Funnel:
        funnel = cls()
        funnel.cells = {(i, status, reason): list(cell) for i, status, reason, *cell in rows}
        return funnel

    def merge(self, other: Funnel) -> Funnel:
        for key, cell in other.cells.items():
            mine = self.cells.setdefault(key, [0, 0, 0, 0])
            for j in range(4):
                mine[j] += cell[j]
        return self

    def to_dict(self, stage_names: list[str]) -> dict:
        stages = []
        for i, name in enumerate(stage_names):
            entry: dict = {
                "name": name,
                "in": _metrics(self.cells.get((i, "in", None))),
                "kept": _metrics(self.cells.get((i, "kept", None))),
                "dropped": {},
                "errored": {},
            }
            for (j, status, reason), cell in sorted(
                self.cells.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
            ):
                if j == i and status in ("dropped", "errored"):
                    entry[status][reason] = _metrics(cell)
            stages.append(entry)
        base = {
            "docs": stages[0]["in"]["docs"],
            "bytes": stages[0]["in"]["bytes"],
            # Text exists only after extraction: its base is the most text any stage saw.
            "chars": max((s["in"]["chars"] for s in stages), default=0),
            "words": max((s["in"]["words"] for s in stages), default=0),
        }
        for s in stages:
            for part in [s["in"], s["kept"], *s["dropped"].values(), *s["errored"].values()]:
                part["share"] = {m: (part[m] / base[m] if base[m] else 0.0) for m in METRICS}
        final = stages[-1]["kept"]
        return {"input": base, "stages": stages, "retained": {m: final[m] for m in METRICS} | {"share": final["share"]}}


def _metrics(cell) -> dict:
    cell = cell or [0, 0, 0, 0]
    return dict(zip(METRICS, cell))


def check_accounting(stats: dict) -> list[str]:
    """Every violated identity, as text; empty when every record is accounted for."""
    problems = []
    stages = stats["stages"]
    for i, s in enumerate(stages):
        for m in ("docs", "bytes"):
            out = s["kept"][m] + sum(v[m] for v in s["dropped"].values()) + sum(v[m] for v in s["errored"].values())
            if s["in"][m] != out:
                problems.append(f"{s['name']}: in {m} {s['in'][m]} != kept + dropped + errored {out}")
        if i + 1 < len(stages) and s["kept"]["docs"] != stages[i + 1]["in"]["docs"]:
            problems.append(f"{s['name']}: kept {s['kept']['docs']} != next stage in {stages[i + 1]['in']['docs']}")
    return problems


def _fmt_int(n: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def stage_reasons(stage: dict):
    """A stats.json stage's (status, reason, part) for every drop and error reason, drops first:
    the order every view of a funnel lists them in."""
    for status in ("dropped", "errored"):
        for reason, part in stage[status].items():
            yield status, reason, part


def format_funnel(stats: dict) -> str:
    """The funnel as a table: one line per stage, then one per drop or error reason."""
    rows = [("stage / reason", "docs", "% docs", "bytes", "chars", "% chars", "words", "% words")]

    def row(label, part):
        sh = part["share"]
        return (
            label,
            f"{part['docs']:,}",
            f"{100 * sh['docs']:.1f}",
            _fmt_int(part["bytes"]),
            _fmt_int(part["chars"]),
            f"{100 * sh['chars']:.1f}",
            _fmt_int(part["words"]),
            f"{100 * sh['words']:.1f}",
        )

    for s in stats["stages"]:
        rows.append(row(f"{s['name']} (in)", s["in"]))
        for status, reason, part in stage_reasons(s):
            rows.append(row(f"  {status} {s['name']}:{reason}", part))
    rows.append(row("retained", stats["retained"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for k, r in enumerate(rows):
        lines.append("  ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
        if k == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def stats_document(funnel: Funnel, stage_names: list[str], header: dict) -> dict:
    """stats.json: `header` (pipeline, version, inputs, recipe, ...), the funnel, and whether its
    books balance."""
    stats = {**header, **funnel.to_dict(stage_names)}
    stats["accounting_ok"] = not check_accounting(stats)
    return stats
