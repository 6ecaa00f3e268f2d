"""Runs a recipe's per-document stages on one raw record and says where it ended.

`DocumentChain.process(record) -> Outcome`: status `kept`, `dropped` or `errored`, the stage and
reason, the document (Parquet row fields, with every score) and a trace of the text size
entering each stage, from which the pipeline builds the funnel (contract 4). Plain Python: the
Beam pipeline wraps it, tests call it directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from thresher.filters.dedup import dedup_key
from thresher.filters.extract import ExtractionError, Extractor, decode_html
from thresher.schema import document_id

READ_STAGE = "read"


@dataclass(slots=True)
class Outcome:
    status: str            # kept | dropped | errored
    stage: str | None      # where it ended (None when kept)
    reason: str | None
    doc: dict
    # (chars, words) of the text entering each stage the record reached, plus one final entry
    # for the text leaving the last stage it passed; (0, 0) before text exists.
    trace: list[tuple[int, int]]

    @property
    def label(self) -> str | None:
        return f"{self.stage}:{self.reason}" if self.reason else None


def text_size(text: str | None) -> tuple[int, int]:
    # Words here are whitespace-separated tokens: the funnel's unit, cheap and language-blind.
    return (len(text), len(text.split())) if text else (0, 0)


def new_document(record: dict) -> dict:
    return {
        "id": document_id(record["source_file"], record["source_offset"]),
        "url": record.get("url"),
        "text": record.get("text"),
        "source_file": record["source_file"],
        "source_offset": record["source_offset"],
        "source_format": record.get("source_format"),
        "crawl": record.get("crawl"),
        "fetch_date": record.get("fetch_date"),
        "lang": None,
        "lang_score": None,
        "scores": {},
        "dedup_key": None,
        "dedup_cluster_size": None,
        "domain": None,
        "payload_bytes": record.get("payload_bytes", 0),
    }


class DocumentChain:
    def __init__(self, recipe):
        # exact_dedup is a join across documents, done by the pipeline after this chain.
        self.stages = [(s.name, s.kind, s.build()) for s in recipe.stages if s.kind != "exact_dedup"]
        self.stage_names = [READ_STAGE] + [name for name, _, _ in self.stages]

    def process(self, record: dict) -> Outcome:
        doc = new_document(record)
        # The text changes only at extraction and in filters that rewrite it (C4, PII): measure it
        # again only then, not at every stage.
        sized, size = doc["text"], text_size(doc["text"])
        trace = [size]
        if record.get("error"):
            return Outcome("errored", READ_STAGE, record["error"], doc, trace)
        payload = record.get("payload")
        for name, kind, stage in self.stages:
            if doc["text"] is not sized:
                sized, size = doc["text"], text_size(doc["text"])
            trace.append(size)
            try:
                if kind == "extract":
                    if doc["text"] is None:  # WARC: HTML bytes; WET/JSONL/Parquet come with text
                        doc["text"] = self._extract(stage, payload, record.get("charset"), doc["url"])
                    payload = None
                    if not doc["text"].strip():
                        return Outcome("errored", name, "empty_text", doc, trace)
                    continue
                decision = stage(doc)
            except ExtractionError as exc:
                return Outcome("errored", name, exc.reason, doc, trace)
            except Exception as exc:  # noqa: BLE001 - a bad document never stops the run
                doc["error_detail"] = f"{type(exc).__name__}: {exc}"[:500]
                return Outcome("errored", name, "exception", doc, trace)
            for key, value in decision.scores.items():
                doc["scores"][f"{name}.{key}"] = float(value)
            if not decision.keep:
                return Outcome("dropped", name, decision.reason or "dropped", doc, trace)
            if decision.fields:
                doc.update(decision.fields)
        trace.append(size if doc["text"] is sized else text_size(doc["text"]))
        doc["dedup_key"] = dedup_key(doc["text"])
        return Outcome("kept", None, None, doc, trace)

    @staticmethod
    def _extract(extractor: Extractor, payload: bytes, charset: str | None, url: str | None) -> str:
        return extractor(decode_html(payload, charset), url=url)
