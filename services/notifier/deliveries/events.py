"""Events of the deliveries domain: it consumes ``initiative.*.v1`` from ``registry.initiatives``
and plans e-mails for the types in ``service.NOTIFICATIONS``, the progress report notices
(``progress_reports.PROGRESS_NOTIFICATIONS``), the reminders to report progress
(``reminders``) and the secretariat's weekly digest (``digest``) on the same topic, and the
account e-mail events of ``registry.accounts`` (``account_mail.ACCOUNT_MAILS``); it emits
none."""

from notifier.deliveries.account_mail import ACCOUNT_MAILS
from notifier.deliveries.progress_reports import PROGRESS_NOTIFICATIONS
from notifier.deliveries.service import NOTIFICATIONS
from shared.events.types import (
    COMPLIANCE_WEEKLY_DIGEST,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_PROGRESS_REMINDER_DUE,
    INITIATIVE_REPORTING_STATUS_CHANGED,
    INITIATIVE_UPDATED,
    TOPIC_ACCOUNTS,
    TOPIC_INITIATIVES,
)

TOPICS = (TOPIC_INITIATIVES, TOPIC_ACCOUNTS)
CONSUMES = (*NOTIFICATIONS, *PROGRESS_NOTIFICATIONS, INITIATIVE_PROGRESS_REMINDER_DUE,
            COMPLIANCE_WEEKLY_DIGEST, *ACCOUNT_MAILS)
#: received on the same topic and deliberately ignored (no e-mail, no processed_events row);
#: a change of the reporting light mails nobody by itself: the reminder events tell the owners
IGNORES = (INITIATIVE_CREATED, INITIATIVE_UPDATED, INITIATIVE_IMPORTED,
           INITIATIVE_REPORTING_STATUS_CHANGED)
EMITS: tuple[str, ...] = ()
