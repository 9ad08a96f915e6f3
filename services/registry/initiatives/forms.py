"""Flask-WTF forms of the partner's initiative pages (the wizard, the owner page).

The forms bound lengths, require what a step cannot save without and carry the CSRF token and
the record's ``version`` (a stale form is refused with 412 by the service). The rules of the
content itself (SDG codes, M49 codes, dates in order, SMART requirements) are the API's:
``registry.initiatives.pages`` loads what the forms give through ``InitiativePatchSchema`` and
calls the same service functions as the API. Lists with many values (targets, countries,
partners, deliverable and resource rows) are read from the request by the pages, not declared
here.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, Regexp

#: The shape of an e-mail address the forms accept (the schema checks it again).
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class VersionedForm(FlaskForm):
    """A form of one record: its CSRF token and the ``version`` the page was built from."""

    version = HiddenField()

    def posted_version(self) -> int | None:
        """The version the form was built from (None when absent or not a number)."""
        raw = (self.version.data or "").strip()
        return int(raw) if raw.isdigit() and len(raw) < 10 else None


class BasicsForm(VersionedForm):
    """Step 1: title, description, owner organisation (when the person has several), dates."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(min=3, max=500)],
                        description=_l("A short name of the initiative, as the public will "
                                       "see it."))
    description = TextAreaField(_l("Description"), validators=[Optional(),
                                                               Length(max=20_000)],
                                description=_l("What it does, for whom, and what it will "
                                               "achieve (specific)."),
                                render_kw={"rows": 8})
    owner_organization_id = SelectField(_l("Organisation registering it"),
                                        validators=[Optional()], validate_choice=True,
                                        description=_l("Its members edit and submit the "
                                                       "initiative."))
    start_date = DateField(_l("Start date"), validators=[Optional()],
                           description=_l("Format: YYYY-MM-DD."))
    end_date = DateField(_l("End date"), validators=[Optional()],
                         description=_l("Format: YYYY-MM-DD."))


class ContactForm(VersionedForm):
    """Step 6: the contact e-mail for progress reporting."""

    contact_email = StringField(_l("Contact e-mail"), validators=[
        Optional(), Length(max=320),
        Regexp(EMAIL_PATTERN, message=_l("Give an e-mail address."))],
        description=_l("Who the secretariat writes to about progress reports. It is not "
                       "shown to the public."),
        render_kw={"autocomplete": "email", "type": "email"})


class StepForm(VersionedForm):
    """A wizard step whose fields the page reads itself (goals, geography, partners,
    deliverables and resources)."""


class SubmitForm(VersionedForm):
    """Submit for review, with an optional note to the secretariat."""

    comment = TextAreaField(_l("Note to the secretariat (optional)"),
                            validators=[Optional(), Length(max=10_000)],
                            render_kw={"rows": 3})


class ReasonForm(VersionedForm):
    """Withdraw or declare completion: the required reason or closing note."""

    comment = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=10_000)],
                            render_kw={"rows": 5})


class CommentForm(VersionedForm):
    """A comment (or a reply) in the initiative's thread."""

    body = TextAreaField(_l("Your comment"), validators=[DataRequired(), Length(max=10_000)],
                         render_kw={"rows": 4})
    reply_to_id = HiddenField()
