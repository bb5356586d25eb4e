"""What a report is made of, before it is rendered: sections of findings, figures and tables."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Figure", "Table", "Section", "Report", "ReportPaths"]


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass
class Section:
    title: str
    intro: str = ""
    findings: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    #: render the tables right under the intro (the verdict's table is the answer; figures support it)
    tables_first: bool = False


@dataclass
class Report:
    title: str
    source: str
    generated: str
    summary: list[str]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [figure for section in self.sections for figure in section.figures]


@dataclass(frozen=True)
class ReportPaths:
    markdown: Path
    html: Path
    figures: tuple[Path, ...]
