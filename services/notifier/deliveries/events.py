"""Events of the deliveries domain: it consumes ``initiative.*.v1`` from ``registry.initiatives``
and plans e-mails for the types in ``service.NOTIFICATIONS``, and the account e-mail events of
``registry.accounts`` (``account_mail.ACCOUNT_MAILS``); it emits none."""

from notifier.deliveries.account_mail import ACCOUNT_MAILS
from notifier.deliveries.service import NOTIFICATIONS
from shared.events.types import (
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_UPDATED,
    TOPIC_ACCOUNTS,
    TOPIC_INITIATIVES,
)

TOPICS = (TOPIC_INITIATIVES, TOPIC_ACCOUNTS)
CONSUMES = (*NOTIFICATIONS, *ACCOUNT_MAILS)
#: received on the same topic and deliberately ignored (no e-mail, no processed_events row)
IGNORES = (INITIATIVE_CREATED, INITIATIVE_UPDATED, INITIATIVE_IMPORTED)
EMITS: tuple[str, ...] = ()
