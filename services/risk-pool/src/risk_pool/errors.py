"""Named risk-pool errors, each with its HTTP status."""

from __future__ import annotations

from kit.errors import Conflict, Forbidden, InvalidInput, NotFound


class SchemeInvalid(InvalidInput):
    title, code = "Invalid sharing scheme", "scheme-invalid"


class SchemeExists(Conflict):
    title, code = "Scheme already exists", "scheme-exists"


class FundNotFound(NotFound):
    title, code = "Fund not found", "fund-not-found"


class FundExists(Conflict):
    title, code = "Fund already exists", "fund-exists"


class InsufficientFunds(Conflict):
    title, code = "Insufficient funds", "insufficient-funds"


class NotACityFund(Conflict):
    title, code = "Not a city fund", "not-a-city-fund"


class NoLendingVolume(Conflict):
    title, code = "No lending volume", "no-lending-volume"


class DuplicateReference(Conflict):
    title, code = "Duplicate reference", "duplicate-reference"


class SchemeNotFound(NotFound):
    title, code = "Sharing scheme not found", "scheme-not-found"


class LoanNotFound(NotFound):
    title, code = "Loan not found", "loan-not-found"


class ClaimNotFound(NotFound):
    title, code = "Claim not found", "claim-not-found"


class NotYetClaimable(Conflict):
    """Before the claim trigger (90 days past due by default)."""

    title, code = "Not yet claimable", "not-yet-claimable"


class NotCovered(Conflict):
    title, code = "Loan not covered", "loan-not-covered"


class ClaimExists(Conflict):
    title, code = "Claim already filed", "claim-exists"


class ClaimsRejected(Conflict):
    title, code = "Claims rejected", "claims-rejected"


class ClaimAwaitingFunds(Conflict):
    title, code = "Claim awaiting funds", "claim-awaiting-funds"


class RecoveryTooLarge(InvalidInput):
    title, code = "Recovery larger than the outstanding loss", "recovery-too-large"


class ObligationNotFound(NotFound):
    title, code = "Obligation not found", "obligation-not-found"


class ObligationSettled(Conflict):
    title, code = "Obligation already settled", "obligation-settled"


class BreakerNotFound(NotFound):
    title, code = "Breaker not found", "breaker-not-found"


class ReinstatementRefused(Conflict):
    title, code = "Reinstatement refused", "reinstatement-refused"


class NotYours(Forbidden):
    title, code = "Forbidden", "forbidden"


class EventsInvalid(InvalidInput):
    title, code = "Invalid loan events", "events-invalid"
