"""Flask-WTF forms of the review desk (labels and messages through Babel). Every form carries
the CSRF token and the record's ``version`` (its change counter: a decision taken on a page
read before someone else changed the record answers 412 instead of overwriting)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

#: Longest comment, note or reason (characters), as the API's schema.
BODY_MAX = 10_000


class DecisionForm(FlaskForm):
    """One decision button (approve, request changes, ...): an optional or required comment
    (the workflow says which) and the version the reviewer saw."""

    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=BODY_MAX)])
    version = IntegerField(validators=[Optional(), NumberRange(min=1)])


class CommentForm(FlaskForm):
    """A comment of the thread, an internal note or a reply (``reply_to_id``)."""

    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=BODY_MAX)])
    visibility = SelectField(_l("Who sees it"), default="participants")
    reply_to_id = HiddenField()

    def __init__(self, *args, secretariat: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if secretariat:
            self.visibility.choices = [
                SelectChoice("participants", _l("The partner organisation and the secretariat")),
                SelectChoice("internal", _l("Internal note: the secretariat only")),
                SelectChoice("public", _l("Everyone (shown on the public page)")),
            ]
        else:
            self.visibility.choices = [
                SelectChoice("participants", _l("The partner organisation and the secretariat"))]


class AssignForm(FlaskForm):
    """Assign the review to a reviewer (``me``, ``none`` or a reviewer's user id)."""

    reviewer = SelectField(_l("Reviewer"), validators=[DataRequired()])
    version = IntegerField(validators=[Optional(), NumberRange(min=1)])
