"""Event types, their topics and their payload (``data``) schemas, version 1.

Topics (each prefixed by ``KAFKA_TOPIC_PREFIX``; key = aggregate id):

* ``registry.initiatives`` — every state change of an initiative. ``data`` is
  :class:`InitiativeEventData`: the action, the status before and after, the reviewer's comment,
  the acting principal and a full :class:`InitiativeSnapshot` after the change (event-carried
  state transfer: consumers keep their own read models and never read the registry's tables).
* ``registry.organizations`` — organisations registered (:class:`OrganizationEventData`).
* ``<topic>.dlt`` — dead letters: events a consumer could not process, with ``dlt_*`` headers.

Compatibility rule (CONVENTIONS.md): adding an optional field keeps the type; removing or
changing the meaning of a field needs a new ``.v2`` type, produced beside ``.v1`` for a while.
Consumers load with ``unknown = EXCLUDE`` so added fields never break them.
"""

from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.config import setting
from shared.events.fastload import FastLoader, Unsupported, fast_loader

PREFIX = "org.partnership-registry"

INITIATIVE_CREATED = f"{PREFIX}.initiative.created.v1"
INITIATIVE_UPDATED = f"{PREFIX}.initiative.updated.v1"
INITIATIVE_SUBMITTED = f"{PREFIX}.initiative.submitted.v1"
INITIATIVE_APPROVED = f"{PREFIX}.initiative.approved.v1"
INITIATIVE_CHANGES_REQUESTED = f"{PREFIX}.initiative.changes-requested.v1"
INITIATIVE_REJECTED = f"{PREFIX}.initiative.rejected.v1"
INITIATIVE_IMPORTED = f"{PREFIX}.initiative.imported.v1"
ORGANIZATION_CREATED = f"{PREFIX}.organization.created.v1"

TOPIC_INITIATIVES = "registry.initiatives"
TOPIC_ORGANIZATIONS = "registry.organizations"

# --- review desk (issue 8): the whole lifecycle after publication, revisions, the thread ---
INITIATIVE_COMPLETION_DECLARED = f"{PREFIX}.initiative.completion-declared.v1"
INITIATIVE_COMPLETION_DECLINED = f"{PREFIX}.initiative.completion-declined.v1"
INITIATIVE_COMPLETED = f"{PREFIX}.initiative.completed.v1"
INITIATIVE_ARCHIVED = f"{PREFIX}.initiative.archived.v1"
INITIATIVE_WITHDRAWN = f"{PREFIX}.initiative.withdrawn.v1"
INITIATIVE_SUSPENDED = f"{PREFIX}.initiative.suspended.v1"
INITIATIVE_REINSTATED = f"{PREFIX}.initiative.reinstated.v1"
INITIATIVE_REVISION_SUBMITTED = f"{PREFIX}.initiative.revision-submitted.v1"
INITIATIVE_REVISION_APPROVED = f"{PREFIX}.initiative.revision-approved.v1"
INITIATIVE_REVISION_CHANGES_REQUESTED = f"{PREFIX}.initiative.revision-changes-requested.v1"
INITIATIVE_REVISION_REJECTED = f"{PREFIX}.initiative.revision-rejected.v1"
INITIATIVE_COMMENTED = f"{PREFIX}.initiative.commented.v1"
INITIATIVE_REVIEW_ASSIGNED = f"{PREFIX}.initiative.review-assigned.v1"

#: Workflow statuses of an initiative, as stored and sent (readable strings).
#:
#: draft -> submitted -> (changes_requested -> submitted)* -> published | rejected;
#: published -> completion_declared (owner, closing note) -> completed (secretariat confirms;
#: or back to published when it declines) -> archived; published -> withdrawn (owner, reason);
#: published -> suspended (secretariat, reason) -> published (reinstated). Issue 8.
INITIATIVE_STATUSES = ("draft", "submitted", "changes_requested", "published", "rejected",
                       "completion_declared", "completed", "archived", "withdrawn",
                       "suspended")
#: States of a revision of a published initiative (``initiative_revisions.status``).
REVISION_STATUSES = ("draft", "submitted", "changes_requested", "approved", "rejected",
                     "discarded")
#: Status of a deliverable (issue 8; the UN Ocean commitments platform's vocabulary).
DELIVERABLE_STATUSES = ("planned", "in_progress", "achieved", "delayed", "cancelled")


def topic_name(base: str) -> str:
    """The topic's real name: ``KAFKA_TOPIC_PREFIX`` + base (e.g. ``registry.initiatives``)."""
    return f"{setting('KAFKA_TOPIC_PREFIX') or ''}{base}"


class _Payload(Schema):
    class Meta:
        unknown = EXCLUDE


class OrganizationRef(_Payload):
    """An organisation as carried inside events.

    ``id`` UUID string; ``stakeholder_group`` a code from ``shared.reference.STAKEHOLDER_GROUPS``;
    ``country`` ISO 3166-1 alpha-3 or null.
    """

    id = fields.String(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=500))
    acronym = fields.String(allow_none=True, load_default=None)
    stakeholder_group = fields.String(required=True)
    country = fields.String(allow_none=True, load_default=None)


class PartnerRef(_Payload):
    """A partner of an initiative: the organisation and its role (e.g. ``partner``, ``funder``)."""

    organization = fields.Nested(OrganizationRef, required=True)
    role = fields.String(required=True)


class DeliverableData(_Payload):
    """A deliverable: free-text description, due date (ISO date or null), ``status`` (one of
    :data:`DELIVERABLE_STATUSES`; absent in older events: ``planned``) and its stable ``id``
    (UUID string, optional: kept across edits so versions compare deliverables item by
    item)."""

    id = fields.String(allow_none=True, load_default=None)
    description = fields.String(required=True)
    due_date = fields.Date(allow_none=True, load_default=None)
    status = fields.String(load_default="planned", validate=validate.OneOf(DELIVERABLE_STATUSES))


class ResourceData(_Payload):
    """A resource: ``type`` code (``financing``, ``staff_technical_expertise``,
    ``in_kind_contribution``, ``other``), free-text ``details``, optional ``amount_usd``."""

    type = fields.String(required=True)
    details = fields.String(allow_none=True, load_default=None)
    amount_usd = fields.Decimal(allow_none=True, load_default=None, as_string=True)


class InitiativeSnapshot(_Payload):
    """The whole initiative after a change.

    Dates are ISO 8601 (``YYYY-MM-DD``), times RFC 3339 UTC. ``version`` increases by one with
    every change, so a consumer can ignore a snapshot older than the one it holds.
    ``sdg_goals`` are goal numbers 1-17 (derived from the targets, plus goals tagged without a
    target); ``sdg_targets`` official codes such as ``14.1``; ``countries`` ISO alpha-3;
    ``regions`` UN M49 codes (3-digit strings) tagged explicitly. ``contact_email_verified``:
    the notifier may write to ``contact_email`` (see the field's comment).
    """

    id = fields.String(required=True)
    public_id = fields.String(allow_none=True, load_default=None)
    status = fields.String(required=True, validate=validate.OneOf(INITIATIVE_STATUSES))
    version = fields.Integer(required=True, validate=validate.Range(min=1))
    title = fields.String(required=True)
    description = fields.String(allow_none=True, load_default=None)
    lead_organization = fields.Nested(OrganizationRef, allow_none=True, load_default=None)
    partners = fields.List(fields.Nested(PartnerRef), load_default=list)
    sdg_goals = fields.List(fields.Integer(validate=validate.Range(1, 17)), load_default=list)
    sdg_targets = fields.List(fields.String(), load_default=list)
    countries = fields.List(fields.String(validate=validate.Length(equal=3)), load_default=list)
    regions = fields.List(fields.String(validate=validate.Length(equal=3)), load_default=list)
    start_date = fields.Date(allow_none=True, load_default=None)
    end_date = fields.Date(allow_none=True, load_default=None)
    deliverables = fields.List(fields.Nested(DeliverableData), load_default=list)
    resources = fields.List(fields.Nested(ResourceData), load_default=list)
    contact_email = fields.String(allow_none=True, load_default=None)
    # accounts (issue 7): the registry says whether ``contact_email`` may receive mail (its
    # holder followed a verification link, or it is a verified account's address); the
    # notifier writes to the contact only when true; absent (older events): false
    contact_email_verified = fields.Boolean(load_default=False)
    source = fields.String(allow_none=True, load_default=None)
    source_ref = fields.String(allow_none=True, load_default=None)
    created_at = fields.AwareDateTime(required=True)
    updated_at = fields.AwareDateTime(required=True)
    published_at = fields.AwareDateTime(allow_none=True, load_default=None)
    # review desk (issue 8), optional: the number of the approved version the public sees
    # (1 at first publication, +1 per approved revision; null before publication), and the
    # owner organisation (its members are told of review steps)
    approved_version = fields.Integer(allow_none=True, load_default=None)
    owner_organization_id = fields.String(allow_none=True, load_default=None)
    # progress reports and compliance (issue 9), optional: the reporting traffic light
    # (``REPORTING_STATUSES``; null when not active or not yet computed), the date of the last
    # approved progress report, the progress rolled up from it or from the deliverables'
    # weights (0-100), and the number of approved progress reports
    reporting_status = fields.String(allow_none=True, load_default=None)
    last_progress_report_on = fields.Date(allow_none=True, load_default=None)
    progress_percent = fields.Integer(allow_none=True, load_default=None)
    progress_reports_count = fields.Integer(load_default=0)


class ActorData(_Payload):
    """Who acted: ``role`` (``partner``, ``secretariat`` or ``system`` for imports), the
    acting organisation, the person's ``email`` and ``name`` (display name; issue 8: filled for
    secretariat actions too) and ``user_id`` (UUID string; the notifier never tells people of
    their own action)."""

    role = fields.String(required=True)
    organization_id = fields.String(allow_none=True, load_default=None)
    email = fields.String(allow_none=True, load_default=None)
    name = fields.String(allow_none=True, load_default=None)
    user_id = fields.String(allow_none=True, load_default=None)


class EventRecipient(_Payload):
    """A person the registry says should hear of a review step (issue 8): ``email`` (a
    verified account address), ``locale`` (one of :data:`ACCOUNT_LOCALES`), ``role``:
    ``owner`` (a member of the owner organisation), ``reviewer`` (the assigned reviewer) or
    ``secretariat``; ``user_id`` UUID string."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=320))
    locale = fields.String(load_default="en")
    role = fields.String(required=True, validate=validate.OneOf(("owner", "reviewer",
                                                                  "secretariat")))
    user_id = fields.String(allow_none=True, load_default=None)


class RevisionData(_Payload):
    """The revision an ``initiative.revision-*.v1`` event is about: its ``number`` (1, 2, ...
    per initiative), ``status`` (one of :data:`REVISION_STATUSES`), the approved version it
    was based on (``base_version``) and ``changed_fields`` (names of the snapshot fields it
    changes, e.g. ``["title", "deliverables"]``)."""

    number = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(REVISION_STATUSES))
    base_version = fields.Integer(allow_none=True, load_default=None)
    changed_fields = fields.List(fields.String(), load_default=list)


class ThreadEntryData(_Payload):
    """A comment of the review thread (``initiative.commented.v1``): ``id`` (UUID string),
    ``body`` (plain text), ``visibility`` (``public``: shown on the public page;
    ``participants``: owner organisation and secretariat; internal notes never leave the
    registry), ``reply_to`` (id of the entry answered, or null)."""

    id = fields.String(required=True)
    body = fields.String(required=True)
    visibility = fields.String(required=True, validate=validate.OneOf(("public",
                                                                        "participants")))
    reply_to = fields.String(allow_none=True, load_default=None)


class InitiativeEventData(_Payload):
    """``data`` of every ``org.partnership-registry.initiative.*.v1`` event.

    ``action`` is the workflow action (``create``, ``update``, ``submit``, ``approve``,
    ``request_changes``, ``reject``, ``import``); ``from_status`` is null on creation.
    """

    action = fields.String(required=True)
    from_status = fields.String(allow_none=True, load_default=None)
    to_status = fields.String(required=True, validate=validate.OneOf(INITIATIVE_STATUSES))
    comment = fields.String(allow_none=True, load_default=None)
    actor = fields.Nested(ActorData, required=True)
    initiative = fields.Nested(InitiativeSnapshot, required=True)
    #: language of the initiative's contact (``en``, ``zh``...; ``shared.i18n.LANGUAGES``) for
    #: the notifier's e-mails to them; absent or null: English. Optional (compatible change).
    contact_locale = fields.String(allow_none=True, load_default=None)
    # review desk (issue 8), all optional (compatible): who should hear of this step (owner
    # organisation's members, the assigned reviewer), the revision concerned, the thread
    # entry of a comment, and the absolute URL of the page to act on (the review page for
    # the secretariat, the owner's page otherwise)
    recipients = fields.List(fields.Nested(EventRecipient), load_default=list)
    revision = fields.Nested(RevisionData, allow_none=True, load_default=None)
    thread_entry = fields.Nested(ThreadEntryData, allow_none=True, load_default=None)
    review_url = fields.String(allow_none=True, load_default=None)
    owner_url = fields.String(allow_none=True, load_default=None)


class OrganizationEventData(_Payload):
    """``data`` of ``org.partnership-registry.organization.created.v1``."""

    organization = fields.Nested(OrganizationRef, required=True)


# --- oauth ---
IDENTITY_SIGNING_KEY_PUBLISHED = f"{PREFIX}.identity.signing-key.published.v1"
IDENTITY_SIGNING_KEY_RETIRED = f"{PREFIX}.identity.signing-key.retired.v1"
IDENTITY_TOKEN_REVOKED = f"{PREFIX}.identity.token.revoked.v1"

#: the registry's identity events (key = the key's ``kid`` or the token's ``jti``): every
#: service keeps the public signing keys and the revoked token ids in its own tables
TOPIC_IDENTITY = "registry.identity"


class SigningKeyPublishedData(_Payload):
    """``data`` of ``identity.signing-key.published.v1``: a new public signing key of the
    registry. ``jwk`` is an RSA public JWK (``kty``, ``n``, ``e``, ``kid``, ``alg`` RS256,
    ``use`` sig); ``kid`` its RFC 7638 thumbprint. Consumers validate the key before storing it
    (``shared.identity.store.checked_jwk``)."""

    kid = fields.String(required=True, validate=validate.Length(min=1, max=100))
    jwk = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    published_at = fields.AwareDateTime(required=True)


class SigningKeyRetiredData(_Payload):
    """``data`` of ``identity.signing-key.retired.v1``: the key ``kid`` signs no more; tokens
    it signed are refused from ``not_after`` (RFC 3339 UTC: the expiry of the last token it
    signed, or the rotation time when retired at once)."""

    kid = fields.String(required=True, validate=validate.Length(min=1, max=100))
    not_after = fields.AwareDateTime(required=True)


class TokenRevokedData(_Payload):
    """``data`` of ``identity.token.revoked.v1``: the access token ``jti`` is refused from now
    on, until its own expiry ``expires_at`` (RFC 3339 UTC) after which it is refused anyway."""

    jti = fields.String(required=True, validate=validate.Length(min=1, max=100))
    expires_at = fields.AwareDateTime(required=True)
    revoked_at = fields.AwareDateTime(required=True)


#: type -> (topic base name, payload schema class)
EVENT_TYPES: dict[str, tuple[str, type[Schema]]] = {
    INITIATIVE_CREATED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_UPDATED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_SUBMITTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_APPROVED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_CHANGES_REQUESTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REJECTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_IMPORTED: (TOPIC_INITIATIVES, InitiativeEventData),
    # --- review desk (issue 8) ---
    INITIATIVE_COMPLETION_DECLARED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_COMPLETION_DECLINED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_COMPLETED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_ARCHIVED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_WITHDRAWN: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_SUSPENDED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REINSTATED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REVISION_SUBMITTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REVISION_APPROVED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REVISION_CHANGES_REQUESTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REVISION_REJECTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_COMMENTED: (TOPIC_INITIATIVES, InitiativeEventData),
    INITIATIVE_REVIEW_ASSIGNED: (TOPIC_INITIATIVES, InitiativeEventData),
    ORGANIZATION_CREATED: (TOPIC_ORGANIZATIONS, OrganizationEventData),
    # --- oauth ---
    IDENTITY_SIGNING_KEY_PUBLISHED: (TOPIC_IDENTITY, SigningKeyPublishedData),
    IDENTITY_SIGNING_KEY_RETIRED: (TOPIC_IDENTITY, SigningKeyRetiredData),
    IDENTITY_TOKEN_REVOKED: (TOPIC_IDENTITY, TokenRevokedData),
}


_SCHEMAS: dict[str, Schema] = {}
_FAST: dict[str, FastLoader | None] = {}


def _schema(type_: str) -> Schema:
    """The payload schema instance of ``type_`` (built once: building a nested marshmallow
    schema costs more than loading with it). Raises ``KeyError`` for an unknown type."""
    schema = _SCHEMAS.get(type_)
    if schema is None:
        schema = _SCHEMAS[type_] = EVENT_TYPES[type_][1]()
    return schema


def _fast(type_: str) -> FastLoader | None:
    """The fast path of ``type_``'s schema (``shared.events.fastload``), None if it has none."""
    if type_ not in _FAST:
        try:
            _FAST[type_] = fast_loader(_schema(type_))
        except Unsupported:
            _FAST[type_] = None
    return _FAST[type_]


def load_data(type_: str, data: Any) -> dict[str, Any]:
    """Validate and deserialize ``data`` of a known event type.

    A payload that plainly satisfies the schema is loaded by its fast path
    (``shared.events.fastload``: same result, ~10x cheaper); anything else by the marshmallow
    schema itself, which decides and names the fields. Raises ``KeyError`` for an unknown type
    and ``marshmallow.ValidationError`` (with per-field messages) for bad data.
    """
    fast = _fast(type_)
    loaded = fast(data) if fast is not None else None
    return loaded if loaded is not None else _schema(type_).load(data)


def dump_data(type_: str, data: dict[str, Any]) -> dict[str, Any]:
    """Serialize ``data`` for ``type_`` through its schema (JSON-ready); producers use this."""
    return _schema(type_).dump(data)


# --- accounts ---
# Transactional e-mails of people's accounts (issue 7). The registry never sends mail itself:
# it writes one of these events in the transaction that made the link, and the notifier
# renders the e-mail in ``locale`` and sends it. The payload carries the recipient, the
# language and the one-time link; the link is the only secret in it (single use, expiring,
# only its SHA-256 digest is stored by the registry), never a password or a session.

ACCOUNT_EMAIL_VERIFICATION_REQUESTED = f"{PREFIX}.account.email-verification-requested.v1"
ACCOUNT_PASSWORD_RESET_REQUESTED = f"{PREFIX}.account.password-reset-requested.v1"
CONTACT_EMAIL_VERIFICATION_REQUESTED = f"{PREFIX}.contact.email-verification-requested.v1"

TOPIC_ACCOUNTS = "registry.accounts"

#: Languages of pages and e-mails (issue 7): English, Simplified Chinese, Arabic, French,
#: Russian, Spanish.
ACCOUNT_LOCALES = ("en", "zh", "ar", "fr", "ru", "es")


class AccountMailData(_Payload):
    """``data`` of the account e-mail events (``account.email-verification-requested.v1``,
    ``account.password-reset-requested.v1``, ``contact.email-verification-requested.v1``).

    - ``recipient``: the address to write to (for a sign-up or a contact address: the
      address being verified).
    - ``locale``: one of :data:`ACCOUNT_LOCALES`, the language of the e-mail.
    - ``link``: the absolute one-time link (``PUBLIC_BASE_URL`` + path + token); it is the
      one secret in the payload, single use and expiring at ``expires_at`` (RFC 3339 UTC).
    - ``display_name``: how to greet the person (may be empty).
    - ``user_id``: the account's id (null for a contact address).
    - ``reason``: why the mail is sent: ``sign_up``, ``resend``, ``email_change``,
      ``reset``, ``set_password`` (account made by ``registry create-admin``) or
      ``contact`` (an initiative names the address as its contact).
    """

    recipient = fields.String(required=True, validate=validate.Length(min=3, max=320))
    locale = fields.String(required=True, validate=validate.OneOf(ACCOUNT_LOCALES))
    link = fields.String(required=True, validate=validate.Length(min=10, max=2000))
    expires_at = fields.AwareDateTime(required=True)
    display_name = fields.String(allow_none=True, load_default="")
    user_id = fields.String(allow_none=True, load_default=None)
    reason = fields.String(allow_none=True, load_default=None)


EVENT_TYPES.update({
    ACCOUNT_EMAIL_VERIFICATION_REQUESTED: (TOPIC_ACCOUNTS, AccountMailData),
    ACCOUNT_PASSWORD_RESET_REQUESTED: (TOPIC_ACCOUNTS, AccountMailData),
    CONTACT_EMAIL_VERIFICATION_REQUESTED: (TOPIC_ACCOUNTS, AccountMailData),
})


# --- authz ---
# Organisations' membership and verification (issue 7). The registry writes these in the
# transaction of the change; the notifier turns the first two into e-mails (in ``locale``)
# and the last two inform read models (reporting) and subscribers. Topic
# ``registry.organizations`` (key: the organisation's id).

ORGANIZATION_INVITATION_CREATED = f"{PREFIX}.organization.invitation-created.v1"
ORGANIZATION_JOIN_REQUESTED = f"{PREFIX}.organization.join-requested.v1"
ORGANIZATION_VERIFIED = f"{PREFIX}.organization.verified.v1"
ORGANIZATION_MERGED = f"{PREFIX}.organization.merged.v1"


class PersonRef(_Payload):
    """A person named in an organisation event: ``email`` (verified address, may be null),
    ``display_name`` (may be empty), ``user_id`` (UUID string or null)."""

    email = fields.String(allow_none=True, load_default=None)
    display_name = fields.String(allow_none=True, load_default="")
    user_id = fields.String(allow_none=True, load_default=None)


class MailRecipient(_Payload):
    """Who gets an e-mail: ``email`` and the language to write it in (``locale``, one of
    :data:`ACCOUNT_LOCALES`)."""

    email = fields.String(required=True, validate=validate.Length(min=3, max=320))
    locale = fields.String(load_default="en", validate=validate.OneOf(ACCOUNT_LOCALES))


class InvitationCreatedData(_Payload):
    """``data`` of ``organization.invitation-created.v1``: an organisation admin invited
    ``recipient`` (an e-mail address) to join ``organization`` as ``role`` (``member`` or
    ``admin``).

    - ``locale``: the recipient's language when known (an account with that address), else
      the inviter's, else ``en``.
    - ``link``: the absolute accept link (``PUBLIC_BASE_URL/organizations/invitations/
      <token>``); the one secret in the payload: single use, expiring at ``expires_at``
      (RFC 3339 UTC, ``INVITATION_DAYS`` after sending); the registry stores only its
      SHA-256 digest.
    - ``inviter``: :class:`PersonRef` of the admin who invited.
    """

    recipient = fields.String(required=True, validate=validate.Length(min=3, max=320))
    locale = fields.String(load_default="en", validate=validate.OneOf(ACCOUNT_LOCALES))
    organization = fields.Nested(OrganizationRef, required=True)
    role = fields.String(required=True, validate=validate.OneOf(("member", "admin")))
    inviter = fields.Nested(PersonRef, required=True)
    link = fields.String(required=True, validate=validate.Length(min=10, max=2000))
    expires_at = fields.AwareDateTime(required=True)
    invitation_id = fields.String(required=True)


class JoinRequestedData(_Payload):
    """``data`` of ``organization.join-requested.v1``: ``requester`` asked to join
    ``organization``; ``recipients`` are its admins (each with a language); ``link`` the page
    where they accept or decline (no secret: they must sign in); ``message`` the requester's
    note (plain text, may be null)."""

    organization = fields.Nested(OrganizationRef, required=True)
    requester = fields.Nested(PersonRef, required=True)
    recipients = fields.List(fields.Nested(MailRecipient), load_default=list)
    message = fields.String(allow_none=True, load_default=None)
    link = fields.String(required=True)
    join_request_id = fields.String(required=True)


class OrganizationVerifiedData(_Payload):
    """``data`` of ``organization.verified.v1``: the secretariat verified ``organization``
    at ``verified_at`` (RFC 3339 UTC); its initiatives may now be published."""

    organization = fields.Nested(OrganizationRef, required=True)
    verified_at = fields.AwareDateTime(required=True)


class OrganizationMergedData(_Payload):
    """``data`` of ``organization.merged.v1``: the secretariat merged the duplicate
    ``organization`` into ``merged_into``; every link moved there (``moved``: counts per kind
    of link: ``owned_initiatives``, ``lead``, ``partner``, ``memberships``, ``tokens``,
    ``clients``). Read models re-point the duplicate's id to ``merged_into.id``."""

    organization = fields.Nested(OrganizationRef, required=True)
    merged_into = fields.Nested(OrganizationRef, required=True)
    moved = fields.Dict(keys=fields.String(), values=fields.Integer(), load_default=dict)


EVENT_TYPES.update({
    ORGANIZATION_INVITATION_CREATED: (TOPIC_ORGANIZATIONS, InvitationCreatedData),
    ORGANIZATION_JOIN_REQUESTED: (TOPIC_ORGANIZATIONS, JoinRequestedData),
    ORGANIZATION_VERIFIED: (TOPIC_ORGANIZATIONS, OrganizationVerifiedData),
    ORGANIZATION_MERGED: (TOPIC_ORGANIZATIONS, OrganizationMergedData),
})


# --- progress reports and reporting compliance (issue 9) ---
# After publication a partner reports progress every year; the secretariat reviews each report
# with the workflow machinery of initiatives (registry.workflow); a scheduled job in the registry
# computes each active initiative's reporting status (the traffic light) and decides the
# reminders; the notifier sends them. All these events are on ``registry.initiatives`` (key:
# the initiative's id), so a consumer sees an initiative's events in order; the weekly digest
# of the secretariat has the key ``compliance-digest``.

PROGRESS_REPORT_SUBMITTED = f"{PREFIX}.progress-report.submitted.v1"
PROGRESS_REPORT_APPROVED = f"{PREFIX}.progress-report.approved.v1"
PROGRESS_REPORT_CHANGES_REQUESTED = f"{PREFIX}.progress-report.changes-requested.v1"
INITIATIVE_REPORTING_STATUS_CHANGED = f"{PREFIX}.initiative.reporting-status-changed.v1"
INITIATIVE_PROGRESS_REMINDER_DUE = f"{PREFIX}.initiative.progress-reminder-due.v1"
COMPLIANCE_WEEKLY_DIGEST = f"{PREFIX}.compliance.weekly-digest.v1"

#: Workflow states of a progress report: the owner drafts (leniently) and submits (strictly);
#: the secretariat approves or requests changes (then the owner edits and resubmits). Only
#: approved reports are public and count for the reporting status.
PROGRESS_REPORT_STATES = ("draft", "submitted", "changes_requested", "approved")
#: Overall status of an initiative in a progress report: the UN Partnerships for SDGs / Ocean
#: commitments platform's vocabulary ("On track", "Off track", "Completed", "Financial
#: issues", "Cancelled"), plus ``inactive``, a legacy value of that platform kept on import
#: only (one record of the real file uses it; the form does not offer it).
PROGRESS_STATUSES = ("on_track", "off_track", "completed", "financial_issues", "cancelled",
                     "inactive")
#: The reporting traffic light (UN DESA's rule since 2018): ``green`` while a progress report
#: was approved within ``REPORTING_YELLOW_MONTHS`` (12) of publication or of the last report,
#: ``yellow`` after that, ``red`` — shown as inactive — after ``REPORTING_RED_MONTHS`` (24).
REPORTING_STATUSES = ("green", "yellow", "red")
#: Reminders to the owner organisation's members, each sent once per reporting cycle (a
#: cycle starts at publication and again at each approved report): ``upcoming``
#: (``REPORTING_REMINDER_DAYS_BEFORE`` days before the report is due), ``due`` (at the
#: ``REPORTING_YELLOW_MONTHS`` mark), ``yellow`` (the record turned yellow), ``red`` (it
#: turned red), ``manual`` (the secretariat's "send reminder now"; any number of times).
#: When several fall due in the same run of the job (``due`` and ``yellow`` coincide with the
#: default settings) one e-mail of the most severe kind is sent and the others are recorded
#: as covered by it.
REMINDER_KINDS = ("upcoming", "due", "yellow", "red", "manual")
#: IATI 2.03 IndicatorMeasure codelist (1 unit, 2 percentage, 3 nominal, 4 ordinal,
#: 5 qualitative), as readable strings.
INDICATOR_MEASURES = ("unit", "percentage", "nominal", "ordinal", "qualitative")


class DeliverableUpdateData(_Payload):
    """One deliverable's line in a progress report: the deliverable's stable ``deliverable_id``
    (UUID string, ``DeliverableData.id``), its ``status`` then (one of
    :data:`DELIVERABLE_STATUSES`) and a plain-text ``note`` (may be null)."""

    deliverable_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(DELIVERABLE_STATUSES))
    note = fields.String(allow_none=True, load_default=None)


class IndicatorValueData(_Payload):
    """An actual value of one of the initiative's indicators (IATI result model:
    ``result/indicator/period/actual``) for the period ``period_start``..``period_end``
    (ISO dates): ``indicator_id`` (UUID string), ``value`` (decimal as a string, or null for a
    qualitative indicator), ``comment`` (plain text, may be null)."""

    indicator_id = fields.String(required=True)
    value = fields.Decimal(allow_none=True, load_default=None, as_string=True)
    period_start = fields.Date(allow_none=True, load_default=None)
    period_end = fields.Date(allow_none=True, load_default=None)
    comment = fields.String(allow_none=True, load_default=None)


class MoneyData(_Payload):
    """Resources mobilised: ``amount`` (decimal string, >= 0) in ``currency`` (ISO 4217
    alphabetic code, e.g. ``USD``, ``CNY``) with a plain-text ``description``."""

    amount = fields.Decimal(required=True, as_string=True)
    currency = fields.String(required=True, validate=validate.Length(equal=3))
    description = fields.String(allow_none=True, load_default=None)


class MilestoneData(_Payload):
    """A dated milestone of a progress report: ``date`` (ISO date), ``title`` (plain text),
    ``achieved`` (bool)."""

    date = fields.Date(required=True)
    title = fields.String(required=True)
    achieved = fields.Boolean(load_default=True)


class ProgressReportData(_Payload):
    """A progress report as carried in events.

    - ``id`` UUID string; ``number`` 1, 2, ... per initiative; ``status`` one of
      :data:`PROGRESS_REPORT_STATES`.
    - ``period_start``/``period_end``: the period reported on (ISO dates; null on imported
      reports, whose source has only the date of the report).
    - ``reported_on``: the date the partner reported (the submission date; for imported
      reports, the source's date). This date restarts the reporting cycle once approved.
    - ``overall_status``: one of :data:`PROGRESS_STATUSES` (null only on imported reports
      whose source left it empty); ``progress_percent`` 0-100 or null.
    - ``narrative_html``: sanitised HTML (nh3; only basic formatting and links).
    - ``deliverable_updates``, ``indicator_values``, ``resources_mobilised``,
      ``milestones``, ``links`` (absolute http(s) URLs); ``source`` (``form``, ``api`` or
      ``import``); ``submitted_at``, ``approved_at`` RFC 3339 UTC or null.
    """

    id = fields.String(required=True)
    number = fields.Integer(required=True, validate=validate.Range(min=1))
    status = fields.String(required=True, validate=validate.OneOf(PROGRESS_REPORT_STATES))
    period_start = fields.Date(allow_none=True, load_default=None)
    period_end = fields.Date(allow_none=True, load_default=None)
    reported_on = fields.Date(allow_none=True, load_default=None)
    overall_status = fields.String(allow_none=True, load_default=None,
                                   validate=validate.OneOf(PROGRESS_STATUSES))
    progress_percent = fields.Integer(allow_none=True, load_default=None,
                                      validate=validate.Range(0, 100))
    narrative_html = fields.String(allow_none=True, load_default=None)
    deliverable_updates = fields.List(fields.Nested(DeliverableUpdateData), load_default=list)
    indicator_values = fields.List(fields.Nested(IndicatorValueData), load_default=list)
    resources_mobilised = fields.List(fields.Nested(MoneyData), load_default=list)
    milestones = fields.List(fields.Nested(MilestoneData), load_default=list)
    links = fields.List(fields.String(), load_default=list)
    source = fields.String(allow_none=True, load_default=None)
    submitted_at = fields.AwareDateTime(allow_none=True, load_default=None)
    approved_at = fields.AwareDateTime(allow_none=True, load_default=None)


class ProgressReportEventData(_Payload):
    """``data`` of ``progress-report.{submitted,approved,changes-requested}.v1``.

    ``action`` (``submit``, ``approve``, ``request_changes``), ``from_status``/``to_status``
    (:data:`PROGRESS_REPORT_STATES`), the reviewer's ``comment``, the ``actor``, the
    ``report`` after the change and the ``initiative`` snapshot (its ``reporting_status``,
    ``last_progress_report_on`` and ``progress_percent`` already reflect an approval), the
    ``recipients`` (owner members; the assigned reviewer or the secretariat on submission),
    ``review_url`` (the secretariat's page of the report) and ``owner_url`` (the owner's).
    """

    action = fields.String(required=True)
    from_status = fields.String(allow_none=True, load_default=None)
    to_status = fields.String(required=True, validate=validate.OneOf(PROGRESS_REPORT_STATES))
    comment = fields.String(allow_none=True, load_default=None)
    actor = fields.Nested(ActorData, required=True)
    report = fields.Nested(ProgressReportData, required=True)
    initiative = fields.Nested(InitiativeSnapshot, required=True)
    recipients = fields.List(fields.Nested(EventRecipient), load_default=list)
    review_url = fields.String(allow_none=True, load_default=None)
    owner_url = fields.String(allow_none=True, load_default=None)


class ComplianceInitiativeRef(_Payload):
    """An initiative as named in compliance events (compact: no contact details):
    ``id`` (UUID string), ``public_id``, ``title``, the owner organisation
    (``owner_organization_id``, ``owner_organization_name``), the lead's
    ``stakeholder_group`` (``shared.reference.STAKEHOLDER_GROUPS`` code or null),
    ``countries`` (ISO alpha-3), ``regions`` (M49 region codes: tagged regions and the
    regions of its countries), ``sdg_goals`` (1-17), ``url`` (absolute public page URL)."""

    id = fields.String(required=True)
    public_id = fields.String(allow_none=True, load_default=None)
    title = fields.String(required=True)
    owner_organization_id = fields.String(allow_none=True, load_default=None)
    owner_organization_name = fields.String(allow_none=True, load_default=None)
    stakeholder_group = fields.String(allow_none=True, load_default=None)
    countries = fields.List(fields.String(), load_default=list)
    regions = fields.List(fields.String(), load_default=list)
    sdg_goals = fields.List(fields.Integer(), load_default=list)
    url = fields.String(allow_none=True, load_default=None)


class ReportingStatusChangedData(_Payload):
    """``data`` of ``initiative.reporting-status-changed.v1``: the traffic light of
    ``initiative`` went from ``from_status`` (null: it had none, e.g. just published) to
    ``to_status`` (:data:`REPORTING_STATUSES`) as of ``as_of`` (RFC 3339 UTC: the job's
    clock). ``anchor_on`` is the start of the current cycle (publication date or the last
    approved report's ``reported_on``), ``last_report_on`` that report's date (null: none
    yet), ``yellow_on``/``red_on`` the dates the light turns (anchor + the
    ``REPORTING_YELLOW_MONTHS``/``REPORTING_RED_MONTHS`` settings), ``inactive`` true when
    red (UN DESA shows such records as inactive)."""

    initiative = fields.Nested(ComplianceInitiativeRef, required=True)
    from_status = fields.String(allow_none=True, load_default=None,
                                validate=validate.OneOf(REPORTING_STATUSES))
    to_status = fields.String(required=True, validate=validate.OneOf(REPORTING_STATUSES))
    as_of = fields.AwareDateTime(required=True)
    anchor_on = fields.Date(required=True)
    last_report_on = fields.Date(allow_none=True, load_default=None)
    yellow_on = fields.Date(required=True)
    red_on = fields.Date(required=True)
    inactive = fields.Boolean(load_default=False)


class ProgressReminderData(_Payload):
    """``data`` of ``initiative.progress-reminder-due.v1``: remind the owner organisation's
    members (``recipients``, role ``owner``, each with a language) that a progress report of
    ``initiative`` is due on ``due_on`` (ISO date). ``kind`` one of :data:`REMINDER_KINDS`;
    ``reminder_id`` (UUID string) is unique per (initiative, cycle, kind) except ``manual``;
    ``reporting_status`` the light when decided; ``report_url`` the absolute one-click link
    to the progress report form (sign-in first when needed); ``anchor_on`` the cycle's
    start; ``requested_by`` (``manual`` only) who asked."""

    reminder_id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(REMINDER_KINDS))
    initiative = fields.Nested(ComplianceInitiativeRef, required=True)
    reporting_status = fields.String(allow_none=True, load_default=None,
                                     validate=validate.OneOf(REPORTING_STATUSES))
    anchor_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    recipients = fields.List(fields.Nested(EventRecipient), load_default=list)
    report_url = fields.String(required=True)
    requested_by = fields.Nested(ActorData, allow_none=True, load_default=None)


class ComplianceDigestData(_Payload):
    """``data`` of ``compliance.weekly-digest.v1``: what turned yellow or red in the week
    ``week_start``..``week_end`` (ISO dates, end exclusive), for the secretariat
    (``recipients``, role ``secretariat``); ``counts`` the lights as of ``week_end``
    (``{"green": n, "yellow": n, "red": n}``); ``dashboard_url`` the compliance dashboard.
    The notifier groups the lists by stakeholder group and region; the digest is sent even
    when both lists are empty (the secretariat then knows the job ran)."""

    digest_id = fields.String(required=True)
    week_start = fields.Date(required=True)
    week_end = fields.Date(required=True)
    recipients = fields.List(fields.Nested(EventRecipient), load_default=list)
    turned_yellow = fields.List(fields.Nested(ComplianceInitiativeRef), load_default=list)
    turned_red = fields.List(fields.Nested(ComplianceInitiativeRef), load_default=list)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), load_default=dict)
    dashboard_url = fields.String(allow_none=True, load_default=None)


EVENT_TYPES.update({
    PROGRESS_REPORT_SUBMITTED: (TOPIC_INITIATIVES, ProgressReportEventData),
    PROGRESS_REPORT_APPROVED: (TOPIC_INITIATIVES, ProgressReportEventData),
    PROGRESS_REPORT_CHANGES_REQUESTED: (TOPIC_INITIATIVES, ProgressReportEventData),
    INITIATIVE_REPORTING_STATUS_CHANGED: (TOPIC_INITIATIVES, ReportingStatusChangedData),
    INITIATIVE_PROGRESS_REMINDER_DUE: (TOPIC_INITIATIVES, ProgressReminderData),
    COMPLIANCE_WEEKLY_DIGEST: (TOPIC_INITIATIVES, ComplianceDigestData),
})
