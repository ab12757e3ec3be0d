"""Named credit-rating errors, each with its HTTP status."""

from __future__ import annotations

from kit.errors import Conflict, InvalidInput, NotFound


class ScorecardNotFound(NotFound):
    title, code = "Scorecard not found", "scorecard-not-found"


class ScorecardInvalid(InvalidInput):
    """A scorecard definition that is incoherent, or that may not be published (``errors`` lists why)."""

    title, code = "Invalid scorecard", "scorecard-invalid"


class ScorecardPublished(Conflict):
    """A published scorecard version is frozen: assessments record it and must stay explainable."""

    title, code = "Scorecard is published", "scorecard-published"


class NoPublishedScorecard(Conflict):
    title, code = "No published scorecard", "no-published-scorecard"


class AssessmentInvalid(InvalidInput):
    """Indicator values that cannot be scored; ``errors`` lists every problem."""

    title, code = "Invalid assessment", "assessment-invalid"


class AssessmentNotFound(NotFound):
    title, code = "Assessment not found", "assessment-not-found"


class AssessmentSuperseded(Conflict):
    title, code = "Assessment superseded", "assessment-superseded"


class HouseholdInOtherVillage(Conflict):
    """The roster places the household in another village than the request says."""

    title, code = "Household registered in another village", "household-in-other-village"


class LaterAssessmentExists(Conflict):
    """A re-assessment dated before the household's current assessment would replace newer facts."""

    title, code = "A later assessment exists", "later-assessment-exists"


class BatchTooLarge(InvalidInput):
    title, code = "Batch too large", "batch-too-large"


class NotRated(Conflict):
    """A certificate (信用证) needs a current, graded rating without veto or blacklist."""

    title, code = "Household has no lending rating", "not-rated"


class CertificateNotFound(NotFound):
    title, code = "Certificate not found", "certificate-not-found"


class CertificateRevoked(Conflict):
    title, code = "Certificate already revoked", "certificate-revoked"


class BlacklistEntryNotFound(NotFound):
    title, code = "Blacklist entry not found", "blacklist-entry-not-found"


class BlacklistEntryRemoved(Conflict):
    title, code = "Blacklist entry already removed", "blacklist-entry-removed"
