"""Flask-WTF forms of the progress-report pages (labels and messages through Babel).

The report form's repeated rows (deliverable updates, indicator actuals, milestones,
resources mobilised, links) are read from the request by :mod:`registry.progress.pages`, as
the wizard's deliverable rows are; these forms carry the scalar fields, the CSRF token and
the record's ``version`` (a stale form answers 412). The rules of the content itself (dates
in order, vocabularies, ISO 4217 codes, sanitising the narrative with nh3) are the service's
(``registry.progress.service``): the pages call the same functions as the API.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

#: Longest narrative a form takes (characters of HTML; the service bounds it again).
NARRATIVE_MAX = 50_000
#: Longest comment of a decision or of a submission.
COMMENT_MAX = 10_000


class VersionedForm(FlaskForm):
    """A form of one record: its CSRF token and the ``version`` the page was built from."""

    version = HiddenField()

    def posted_version(self) -> int | None:
        """The version the form was built from (None when absent or not a number)."""
        raw = (self.version.data or "").strip()
        return int(raw) if raw.isdigit() and len(raw) < 10 else None


class ReportForm(VersionedForm):
    """The scalar fields of a progress report (period, overall status, progress, narrative)."""

    period_start = DateField(_l("Period from"), validators=[Optional()],
                             description=_l("Format: YYYY-MM-DD."))
    period_end = DateField(_l("Period to"), validators=[Optional()],
                           description=_l("Format: YYYY-MM-DD."))
    overall_status = SelectField(_l("Overall status"), validators=[Optional()],
                                 validate_choice=True)
    progress_percent = IntegerField(
        _l("Progress (percent, 0 to 100)"),
        validators=[Optional(), NumberRange(min=0, max=100,
                                            message=_l("Give a whole number from 0 to 100."))],
        description=_l("Leave empty to compute it from the deliverables and their weights."),
        render_kw={"inputmode": "numeric"})
    narrative_html = TextAreaField(
        _l("Narrative"), validators=[Optional(), Length(max=NARRATIVE_MAX)],
        description=_l("What was done in the period, what was learnt, what is next. Basic "
                       "HTML (paragraphs, lists, links) is kept; anything else is removed."),
        render_kw={"rows": 8})


class SubmitReportForm(VersionedForm):
    """Submit the report for review, with an optional note to the secretariat."""

    comment = TextAreaField(_l("Note to the secretariat (optional)"),
                            validators=[Optional(), Length(max=COMMENT_MAX)],
                            render_kw={"rows": 3})


class DecisionForm(VersionedForm):
    """One decision of the secretariat on a report (approve, request changes)."""

    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=COMMENT_MAX)])


class IndicatorForm(VersionedForm):
    """An indicator of the initiative (IATI result model): title, unit, measure, direction,
    baseline and target, optionally the SDG indicator it reports on."""

    title = StringField(_l("Title"), validators=[DataRequired(), Length(min=2, max=500)])
    unit = StringField(_l("Unit"), validators=[Optional(), Length(max=100)],
                       description=_l("For example: hectares, people trained, tonnes."))
    measure = SelectField(_l("Measure"), validate_choice=True, default="unit")
    ascending = BooleanField(_l("Higher values are better"), default=True)
    baseline_value = StringField(_l("Baseline value"), validators=[Optional(),
                                                                   Length(max=40)],
                                 render_kw={"inputmode": "decimal"})
    baseline_year = IntegerField(_l("Baseline year"), validators=[
        Optional(), NumberRange(min=1900, max=2100, message=_l("Give a year."))])
    target_value = StringField(_l("Target value"), validators=[Optional(), Length(max=40)],
                               render_kw={"inputmode": "decimal"})
    target_year = IntegerField(_l("Target year"), validators=[
        Optional(), NumberRange(min=1900, max=2100, message=_l("Give a year."))])
    sdg_indicator_code = SelectField(_l("SDG indicator (optional)"), validate_choice=True,
                                     default="")


class DeleteForm(VersionedForm):
    """Delete a draft report or an indicator (CSRF and version only)."""


class ReportCommentForm(FlaskForm):
    """A comment on a report's thread; the secretariat may make it an internal note."""

    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=COMMENT_MAX)])
    visibility = SelectField(_l("Who sees it"), default="participants")

    def __init__(self, *args, secretariat: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("participants", _l("The partner organisation and the secretariat"))]
        if secretariat:
            choices.append(("internal", _l("Internal note: the secretariat only")))
        self.visibility.choices = choices
