"""Named applications errors, each with its HTTP status."""

from __future__ import annotations

from typing import Any

from kit.errors import Conflict, InvalidInput, NotFound


class Ineligible(InvalidInput):
    """An application breaks lending rules; ``failures`` names every one of them by code."""

    title, code = "Not eligible", "ineligible"

    def __init__(self, failures: list[dict[str, str]], **extra: Any) -> None:
        codes = ", ".join(sorted({f["code"] for f in failures}))
        super().__init__(f"the application breaks {len(failures)} lending rule(s): {codes}", failures=failures, **extra)


class StepOutOfOrder(Conflict):
    """A step of the approval chain asked for in the wrong state; names the current one."""

    title, code = "Step out of order", "step-out-of-order"

    def __init__(self, action: str, current: str) -> None:
        super().__init__(f"cannot {action} an application that is {current}", current_status=current)


class LoanStateConflict(Conflict):
    title, code = "Loan state conflict", "loan-state-conflict"

    def __init__(self, detail: str, current: str) -> None:
        super().__init__(detail, current_status=current)


class AlreadyOpen(Conflict):
    title, code = "Application already open", "application-already-open"


class DrivenElsewhere(Conflict):
    title, code = "Household already driven", "household-already-driven"


class UnknownHousehold(NotFound):
    title, code = "Household not found", "household-not-found"


class UnknownApplication(NotFound):
    title, code = "Application not found", "application-not-found"


class UnknownLoan(NotFound):
    title, code = "Loan not found", "loan-not-found"


class UnknownRegion(NotFound):
    title, code = "Region not found", "region-not-found"


class UnknownEnterprise(NotFound):
    title, code = "Enterprise not found", "enterprise-not-found"


class InvalidRecord(InvalidInput):
    """A record (household, enterprise, policy) fails validation; ``errors`` lists every problem."""

    title, code = "Invalid record", "invalid-record"

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors), errors=[{"message": e} for e in errors])


class DateInPast(InvalidInput):
    title, code = "Date before the business date", "date-before-business-date"
