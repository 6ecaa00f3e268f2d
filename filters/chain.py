"""Runs a recipe's per-document stages on one raw record and says where it ended.

`DocumentChain.process(RawRecord) -> Outcome` (contracts/schema.py): status `kept`, `dropped` or
`errored`, the stage and reason, the document (Parquet row fields, with every score) and a trace
of the text size entering each stage, from which the pipeline builds the funnel (contract 4).
Every stage, the extractor included, is called the same way (`stage.apply(doc) -> Decision`).

A document ends at its first drop. With `keep_dropped`, the later stages still score it and change
its text as they would have had it been kept (the dropping stage's own change included), so that
every stage's signals exist for every document and a looser threshold can bring it back without
recomputing anything (`thresher refilter` on attributes). The decision and the funnel stay those
of the first drop; the scored document is `Outcome.scored`. Without `keep_dropped` (the default)
nothing runs after a drop.
Plain Python: the Beam pipeline wraps it, tests call it directly.
"""

from __future__ import annotations

from thresher.contracts.schema import READ_STAGE, Document, Outcome, RawRecord, text_size
from thresher.filters.base import StageError
from thresher.filters.dedup import dedup_key
from thresher.filters.registry import CROSS_DOCUMENT_KINDS, build_stage


def new_document(record: RawRecord) -> Document:
    """A working document: the schema's fields, plus the record's HTML `payload` and `charset`
    until extraction replaces them with text (never written: not schema fields)."""
    doc: Document = {
        "id": record.id,
        "url": record.url,
        "text": record.text,
        "source_file": record.source_file,
        "source_offset": record.source_offset,
        "source_length": record.source_length,
        "source_record_id": record.record_id,
        "source_format": record.source_format,
        "crawl": record.crawl,
        "fetch_date": record.fetch_date,
        "lang": None,
        "lang_score": None,
        "scores": {},
        "dedup_key": None,
        "dedup_cluster_size": None,
        "minhash_cluster_size": None,
        "domain": None,
        "payload_bytes": record.payload_bytes,
        "payload": record.payload,
        "charset": record.charset,
    }
    if record.error_detail:
        doc["error_detail"] = record.error_detail
    return doc


class DocumentChain:
    def __init__(self, recipe, keep_dropped: bool = False):
        # Cross-document stages (exact dedup) are joins, run by the pipeline after this chain.
        specs = [s for s in recipe.stages if s.kind not in CROSS_DOCUMENT_KINDS]
        self.stages = [(s.name, build_stage(s)) for s in specs]
        self.stage_names = [READ_STAGE] + [name for name, _ in self.stages]
        # Stages that make the text rather than read it: after a drop, the only ones that can
        # still run on a document without text.
        self.makes_text = {s.name for s in specs if s.kind == "extract"}
        self.keep_dropped = keep_dropped

    def process(self, record: RawRecord) -> Outcome:
        doc = new_document(record)
        # The text changes only at extraction and in filters that rewrite it (C4, PII): measure it
        # again only then, not at every stage.
        sized, size = doc["text"], text_size(doc["text"])
        trace = [size]
        if record.error:
            return Outcome("errored", READ_STAGE, record.error, doc, trace)
        for name, stage in self.stages:
            if doc["text"] is not sized:
                sized, size = doc["text"], text_size(doc["text"])
            trace.append(size)
            try:
                decision = stage.apply(doc)
            except StageError as exc:
                return Outcome("errored", name, exc.reason, doc, trace)
            except Exception as exc:  # noqa: BLE001 - a bad document never stops the run
                doc["error_detail"] = f"{type(exc).__name__}: {exc}"[:500]
                return Outcome("errored", name, "exception", doc, trace)
            for key, value in decision.scores.items():
                doc["scores"][f"{name}.{key}"] = float(value)
            if not decision.keep:
                reason = decision.reason or "dropped"
                if not self.keep_dropped:
                    if decision.detail:  # what the filter found (a matched n-gram): shown in the exclusion samples
                        doc["error_detail"] = decision.detail
                    return Outcome("dropped", name, reason, doc, trace)
                # The document as dropped, for the funnel and the exclusion samples; `doc` scores on.
                dropped = {**doc, "scores": dict(doc["scores"])}
                if decision.detail:
                    dropped["error_detail"] = decision.detail
                return self._score_on(Outcome("dropped", name, reason, dropped, list(trace)), doc, decision)
            if decision.fields:
                doc.update(decision.fields)
        trace.append(size if doc["text"] is sized else text_size(doc["text"]))
        doc["dedup_key"] = dedup_key(doc["text"])
        return Outcome("kept", None, None, doc, trace)

    def _score_on(self, outcome: Outcome, doc: Document, decision) -> Outcome:
        """`outcome` (a drop) with `scored`: `doc` through the stages after the dropping one, as
        if that stage had kept it. Their drops are not decisions (the first one is); a stage that
        cannot process the document ends the scoring, and says so in `error_after_drop`."""
        if decision.fields:  # what the dropping stage would have done to a kept document (C4's kept lines)
            doc.update(decision.fields)
        outcome.scored = doc
        names = [name for name, _ in self.stages]
        for name, stage in self.stages[names.index(outcome.stage) + 1 :]:
            if doc["text"] is None and name not in self.makes_text:
                break  # no text to score: extraction dropped the page before making it
            try:
                decision = stage.apply(doc)
            except StageError as exc:
                doc["error_after_drop"] = f"{name}:{exc.reason}"
                break
            except Exception:  # noqa: BLE001 - as for a kept document: never stops the run
                doc["error_after_drop"] = f"{name}:exception"
                break
            for key, value in decision.scores.items():
                doc["scores"][f"{name}.{key}"] = float(value)
            if decision.fields:
                doc.update(decision.fields)
        return outcome
