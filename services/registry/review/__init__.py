"""The secretariat's review desk (pages): the review queue, the review page of a submission,
a completion declaration or a revision, with the SMART check, the diff, the thread and the
decision buttons."""

#: Decisions the review desk offers on an initiative, in the order of its buttons (each a
#: transition of ``registry.initiatives.policy.INITIATIVE_WORKFLOW``; one endpoint each).
INITIATIVE_DECISIONS = ("approve", "request_changes", "reject", "confirm_completion",
                        "decline_completion", "suspend", "reinstate", "archive")
#: Decisions on a revision (``REVISION_WORKFLOW``).
REVISION_DECISIONS = ("approve", "request_changes", "reject")
