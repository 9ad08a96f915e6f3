"""Events of the progress report domain (``shared.events.types``; topic
``registry.initiatives``, key: the initiative's id, so a consumer sees an initiative's events
in order).

Emitted, in the transaction of the change (``registry.progress.service``, outbox):

- ``progress-report.submitted.v1``: to the owner organisation's other members (role
  ``owner``) and the assigned reviewer, else the secretariat (role ``secretariat``: verified
  reviewers and secretariat admins not of the owner organisation);
- ``progress-report.approved.v1`` and ``progress-report.changes-requested.v1``: to the owner
  organisation's verified members (role ``owner``, in their language).

Each carries ``ProgressReportEventData``: the action, the statuses, the comment, the actor, the
``report`` (``ProgressReportData``), the ``initiative`` snapshot (its ``progress_percent``,
``progress_reports_count``, ``last_progress_report_on`` and ``reporting_status`` already after
an approval), ``recipients``, ``review_url``
(``PUBLIC_BASE_URL/secretariat/review/progress/<report id>``) and ``owner_url``
(``PUBLIC_BASE_URL/my/initiatives/<initiative id>/progress/<number>``).

An approval also restarts the reporting cycle (``registry.compliance.service
.refresh_initiative``), which emits ``initiative.reporting-status-changed.v1`` in the same
transaction when the light changes. Consumed: none.
"""

from shared.events import types as ev

EMITS = (ev.PROGRESS_REPORT_SUBMITTED, ev.PROGRESS_REPORT_APPROVED,
         ev.PROGRESS_REPORT_CHANGES_REQUESTED)
CONSUMES: tuple[str, ...] = ()
