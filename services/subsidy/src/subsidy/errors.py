"""Named subsidy errors, each with its HTTP status."""

from __future__ import annotations

from kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class PlanNotFound(NotFound):
    code = "plan-not-found"


class PlanExists(Conflict):
    title, code = "Plan exists", "plan-exists"


class PlanOverlaps(Conflict):
    title, code = "Plan overlaps", "plan-overlaps"


class FundBelowCommitted(Conflict):
    """贴息资金总额 cannot drop below what batches already reserved or paid."""

    title, code = "Fund below committed", "fund-below-committed"


class BatchNotFound(NotFound):
    code = "batch-not-found"


class AccountNotFound(NotFound):
    code = "account-not-found"


class NoticeNotFound(NotFound):
    code = "notice-not-found"


class PeriodNotEnded(Conflict):
    """贴息期限到期后 only: a period is settled after it has ended."""

    title, code = "Period not ended", "period-not-ended"


class BatchStateConflict(Conflict):
    title, code = "Batch state conflict", "batch-state-conflict"


class NoticeNotReady(Conflict):
    title, code = "Notice not ready", "notice-not-ready"


class SettlementRace(Conflict):
    """Another settlement claimed some of the same loan-years at the same time; retry."""

    title, code = "Settlement in progress", "settlement-race"


class InvalidPlan(InvalidInput):
    code = "invalid-plan"


class InvalidSettlement(InvalidInput):
    code = "invalid-settlement"


class PaymentsIncomplete(InvalidInput):
    """Paying a batch needs one payment reference per recipient, no more, no less."""

    code = "payments-incomplete"


class ReconciliationMismatch(InvalidInput):
    code = "reconciliation-mismatch"


class OutsideRegion(Forbidden):
    code = "outside-region"


class NotYours(Forbidden):
    code = "not-yours"


class RegisterTooLong(InvalidInput):
    code = "register-too-long"
