"""The printed documents of a settlement: 贴息资金发放登记表 (payout register, CSV and PDF) and
贴息资金领取通知书 (collection notice, PDF). Chinese text uses reportlab's built-in CID font
STSong-Light, which needs no font file."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import orjson
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from subsidy.models import SettlementBatch, SubsidyPlan

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))

REGISTER_TITLE = "贴息资金发放登记表"
NOTICE_TITLE = "贴息资金领取通知书"
STATUS_ZH = {"draft": "草稿", "approved": "已审核", "paid": "已发放", "reconciled": "已对账", "cancelled": "已撤销"}
BORROWER_ZH = {"household": "农户", "enterprise": "企业(带贫)"}
# The settlement export (GET /v1/settlements/export): one row per settlement line, these columns
# in this order in both formats; money and rates as decimal strings, dates as YYYY-MM-DD.
EXPORT_COLUMNS = (
    "batch_id", "plan_id", "plan_year", "batch_status", "period_date", "loan_id", "loan_year", "borrower_type", "household_id",
    "enterprise_id", "village_code", "township_code", "county_code", "bank_id", "year_start", "year_end", "days",
    "subsidised_principal", "rate", "computed_amount", "granted_amount", "eligible", "reason", "paid_on", "payment_reference",
)
REGISTER_COLUMNS = (
    "序号", "借款人类型", "借款人编号", "贷款编号", "贷款年度", "所在村", "贷款银行", "计息起日", "计息止日", "天数",
    "贴息本金", "贴息利率", "带贫户数", "贴息金额", "发放凭证号", "备注",
)

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_SMALL_UNITS = ("", "拾", "佰", "仟")
_BIG_UNITS = ("", "万", "亿", "兆")


def amount_in_words(amount: Decimal) -> str:
    """人民币大写: 2175.00 → 贰仟壹佰柒拾伍元整, as written on payment documents."""
    fen_total = int((amount * 100).to_integral_value())
    if fen_total < 0:
        return "负" + amount_in_words(-amount)
    yuan, jiao, fen = fen_total // 100, fen_total // 10 % 10, fen_total % 10
    words, zero = "", False
    digits = str(yuan) if yuan else ""
    for i, char in enumerate(digits):
        pos = len(digits) - 1 - i
        if char == "0":
            zero = True
        else:
            words += ("零" if zero else "") + _DIGITS[int(char)] + _SMALL_UNITS[pos % 4]
            zero = False
        if pos % 4 == 0 and pos > 0 and int(digits[max(0, i - 3) : i + 1]) != 0:
            words += _BIG_UNITS[pos // 4]
    if words:
        words += "元"
    if jiao == 0 and fen == 0:
        return (words or "零元") + "整"
    if jiao:
        words += _DIGITS[jiao] + "角"
    elif words:
        words += "零"
    return words + (_DIGITS[fen] + "分" if fen else "整")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def _register_cells(index: int, row: dict[str, Any]) -> list[str]:
    return [
        str(index), BORROWER_ZH.get(row["recipient_type"], row["recipient_type"]), row["recipient_id"], row["loan_id"],
        str(row["loan_year"]), row["village_code"], row["bank_id"], row["year_start"].isoformat(), row["year_end"].isoformat(),
        str(row["days"]), _money(row["subsidised_principal"]), f"{row['rate'] * 100:.4f}%", str(row["driven_count"]),
        _money(row["granted_amount"]), row["payment_reference"] or "",
        "资金不足按比例核减" if row["reason"] == "fund_exhausted_pro_rata" else "",
    ]


async def register_csv(batch: SettlementBatch, plan: SubsidyPlan, pages: AsyncIterator[list[dict[str, Any]]]) -> AsyncIterator[str]:
    """CSV with a UTF-8 byte-order mark (so spreadsheet programs read the Chinese), one line per
    loan-year paid, and a closing total."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(REGISTER_COLUMNS)
    yield buffer.getvalue()
    index, total = 0, Decimal("0.00")
    async for page in pages:
        buffer.seek(0)
        buffer.truncate()
        for row in page:
            index += 1
            total += row["granted_amount"]
            writer.writerow(_register_cells(index, row))
        yield buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    writer.writerow(["合计", "", "", "", "", "", "", "", "", "", "", "", "", _money(total), "", ""])
    yield buffer.getvalue()


def _styles() -> tuple[ParagraphStyle, ParagraphStyle]:
    title = ParagraphStyle("title", fontName=FONT, fontSize=16, leading=22, alignment=1, spaceAfter=6)
    body = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=15)
    return title, body


def _table(data: Sequence[Sequence[str]], widths: Sequence[float] | None = None, font_size: float = 7) -> Table:
    table = Table(list(data), colWidths=widths, repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), FONT),
                ("FONTSIZE", (0, 0), (-1, -1), font_size),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ]
        )
    )
    return table


def register_pdf(batch: SettlementBatch, plan: SubsidyPlan, rows: Sequence[dict[str, Any]]) -> bytes:
    title, body = _styles()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm, topMargin=12 * mm, bottomMargin=12 * mm,
                            title=REGISTER_TITLE)
    total = sum((r["granted_amount"] for r in rows), Decimal("0.00"))
    header = (
        f"计划年度：{plan.year}　县：{plan.county_code}　乡镇：{batch.township_code}　结算期间：{batch.period_start}至{batch.period_end}"
        f"　批次号：{batch.id}　状态：{STATUS_ZH.get(batch.status, batch.status)}"
    )
    data = [list(REGISTER_COLUMNS)] + [_register_cells(i, r) for i, r in enumerate(rows, start=1)]
    data.append(["合计", "", "", "", "", "", "", "", "", "", "", "", "", _money(total), "", ""])
    story = [
        Paragraph(REGISTER_TITLE, title),
        Paragraph(header, body),
        Paragraph(
            f"贴息利率：{plan.rate * 100:.4f}%　计息基础：{plan.day_basis}天　贴息本金上限：{_money(plan.principal_cap)}元"
            f"　发放合计：{_money(total)}元（{amount_in_words(total)}）",
            body,
        ),
        Spacer(1, 4 * mm),
        _table(data),
        Spacer(1, 6 * mm),
        Paragraph("乡镇财政所（盖章）：　　　　　经办人：　　　　　审核人：　　　　　日期：", body),
    ]
    doc.build(story)
    return out.getvalue()


def notice_pdf(batch: SettlementBatch, plan: SubsidyPlan, recipient: dict[str, Any], lines: Sequence[dict[str, Any]]) -> bytes:
    title, body = _styles()
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=18 * mm, bottomMargin=18 * mm,
                            title=NOTICE_TITLE)
    amount = recipient["amount"]
    who = "户" if recipient["recipient_type"] == "household" else "企业"
    data = [["贷款编号", "贷款年度", "计息起日", "计息止日", "天数", "贴息本金", "贴息利率", "贴息金额"]]
    for line in lines:
        data.append([
            line["loan_id"], str(line["loan_year"]), line["year_start"].isoformat(), line["year_end"].isoformat(), str(line["days"]),
            _money(line["subsidised_principal"]), f"{line['rate'] * 100:.4f}%", _money(line["granted_amount"]),
        ])
    story = [
        Paragraph(NOTICE_TITLE, title),
        Paragraph(f"通知书编号：{batch.id}-{recipient['recipient_id']}", body),
        Spacer(1, 4 * mm),
        Paragraph(f"借款{who}（编号 {recipient['recipient_id']}，所在村 {recipient['village_code']}）：", body),
        Paragraph(
            f"　　根据{plan.year}年度扶贫贴息贷款计划，您已按期还本付息，经乡镇扶贫项目办和财政所审核，"
            f"核定贴息资金人民币{_money(amount)}元（大写：{amount_in_words(amount)}）。"
            f"请持本通知书及有效身份证件到乡镇财政所领取，或以财政所直接发放至您账户为准。",
            body,
        ),
        Spacer(1, 4 * mm),
        _table(data, font_size=8),
        Spacer(1, 4 * mm),
        Paragraph(f"发放凭证号：{recipient.get('payment_reference') or '（发放后填写）'}", body),
        Paragraph("贴息资金只在还本付息后兑付；一年内两次未按时付息或本金逾期的年度不予贴息；罚息不贴息。", body),
        Spacer(1, 10 * mm),
        Paragraph(f"乡镇财政所（盖章）　　乡镇：{batch.township_code}　　批次状态：{STATUS_ZH.get(batch.status, batch.status)}", body),
    ]
    doc.build(story)
    return out.getvalue()


def _export_value(value: Any) -> Any:
    if isinstance(value, Decimal | date):
        return str(value)
    return value


def export_record(row: dict[str, Any]) -> dict[str, Any]:
    return {name: _export_value(row[name]) for name in EXPORT_COLUMNS}


def export_ndjson(rows: Sequence[dict[str, Any]]) -> bytes:
    """One JSON object per line (application/x-ndjson)."""
    return b"".join(orjson.dumps(export_record(row)) + b"\n" for row in rows)


def export_csv(rows: Sequence[dict[str, Any]]) -> bytes:
    """UTF-8 CSV with a header row (no byte-order mark: this is for machines; the register CSV is
    the one for spreadsheets). Empty cells for absent values, true/false for booleans."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        record = export_record(row)
        writer.writerow(["" if v is None else ("true" if v is True else "false" if v is False else v) for v in record.values()])
    return out.getvalue().encode()
