"""Bulk exports as NDJSON or CSV: one value conversion for both, so both carry the same rows."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import orjson
from fastapi.responses import Response

ExportFormat = Literal["ndjson", "csv"]
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def _value(v: Any) -> Any:
    """Money and rates as their exact decimal text ("52175.00", "0.200000"), dates ISO 8601."""
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, datetime | date):
        return v.isoformat()
    return v


def render(items: Sequence[dict[str, Any]], *, columns: Sequence[str], fmt: ExportFormat) -> bytes:
    rows = [{c: _value(item[c]) for c in columns} for item in items]
    if fmt == "ndjson":
        return b"".join(orjson.dumps(r) + b"\n" for r in rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in rows])
    return out.getvalue().encode("utf-8")


def export_response(items: Sequence[dict[str, Any]], *, columns: Sequence[str], fmt: ExportFormat, next_cursor: str | None) -> Response:
    headers = {"X-Next-Cursor": next_cursor} if next_cursor else {}
    return Response(render(items, columns=columns, fmt=fmt), media_type=MEDIA_TYPES[fmt], headers=headers)
