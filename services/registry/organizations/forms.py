"""Flask-WTF forms of the organisation pages (labels and messages through Babel)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField, TextAreaField, URLField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import UUID, DataRequired, Length, Optional, Regexp, ValidationError

from shared import reference
from shared.i18n import country_name, stakeholder_group_label


def _http_url(_form, field) -> None:
    value = (field.data or "").strip()
    if value and not value.lower().startswith(("http://", "https://")):
        raise ValidationError(_l("Give an address starting with http:// or https://."))


class OrganizationForm(FlaskForm):
    """Register an organisation (the same fields as ``POST /api/v1/organizations``)."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(min=2, max=300)])
    acronym = StringField(_l("Acronym"), validators=[Optional(), Length(max=50)])
    stakeholder_group = SelectField(_l("Stakeholder group"), validators=[DataRequired()])
    country = SelectField(_l("Country of its seat"), validators=[Optional()])
    website = URLField(_l("Website"), validators=[Optional(), Length(max=500), _http_url],
                       description=_l("The organisation's own site, http:// or https://."))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stakeholder_group.choices = [
            SelectChoice(code, stakeholder_group_label(code))
            for code in reference.STAKEHOLDER_GROUPS]
        countries = sorted(((code, country_name(code)) for code in reference.countries()),
                           key=lambda c: c[1])
        self.country.choices = [SelectChoice("", _l("— not given —")),
                                *(SelectChoice(code, name) for code, name in countries)]


ROLE_CHOICES = [SelectChoice("member", _l("Member")), SelectChoice("admin", _l("Admin"))]


class InviteForm(FlaskForm):
    """Invite someone by e-mail."""

    email = EmailField(_l("E-mail address"), validators=[
        DataRequired(), Length(max=320),
        Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Give an e-mail address."))])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class JoinForm(FlaskForm):
    """Ask to join an organisation."""

    message = TextAreaField(_l("Message to its admins"), validators=[Optional(),
                                                                     Length(max=2000)])


class RoleForm(FlaskForm):
    """Change a member's role."""

    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class MergeForm(FlaskForm):
    """Merge a duplicate into another organisation."""

    into_id = StringField(_l("Id of the organisation it duplicates"),
                          validators=[DataRequired(), UUID()])


class ActionForm(FlaskForm):
    """A one-button POST form (CSRF only)."""
