"""The one table formatter: Markdown tables for result files, aligned text tables for terminals."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["markdown_table", "text_table"]


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()) -> list[str]:
    """A Markdown table as lines: the header, the rule, one line per row.

    Args:
        header: column titles.
        rows: cells as text; a row shorter than the header is padded with empty cells.
        right: indices of the columns aligned right (numbers).
    """
    rule = "".join("|---:" if i in right else "|---" for i in range(len(header))) + "|"
    return [_markdown_row(header), rule, *(_markdown_row(list(row) + [""] * (len(header) - len(row))) for row in rows)]


def _markdown_row(cells: Sequence[str]) -> str:
    """``| a | b |``; empty cells at the end are written as `` |`` each."""
    filled = len(cells)
    while filled > 1 and cells[filled - 1] == "":
        filled -= 1
    return "| " + " | ".join(cells[:filled]) + " |" + " |" * (len(cells) - filled)


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A plain-text table as lines, columns padded to their widest cell: the first aligned left,
    the others right, with a rule of dashes under the header."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width) for i, (cell, width) in enumerate(zip(cells, widths)))

    return [line(header), line(["-" * width for width in widths]), *(line(row) for row in rows)]
