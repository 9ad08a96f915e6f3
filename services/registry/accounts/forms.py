"""Flask-WTF forms of the account pages (labels and messages translated lazily). The rules
themselves (password policy, e-mail shape) are the service's: the forms only bound lengths
and require fields, and the pages show the service's field errors."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from registry.accounts.passwords import MAX_LENGTH, MIN_LENGTH

#: language choices as each language names itself (shared.i18n.LANGUAGES order)
LANGUAGE_CHOICES = [SelectChoice(code, name) for code, name in (
    ("en", "English"), ("zh", "中文（简体）"), ("ar", "العربية"), ("fr", "Français"),
    ("ru", "Русский"), ("es", "Español"))]

_PASSWORD_HELP = _l("At least %(min)s characters (up to %(max)s); any characters, spaces "
                    "too. Very common passwords are refused.", min=MIN_LENGTH, max=MAX_LENGTH)


class SignUpForm(FlaskForm):
    """Create an account."""

    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Password"), description=_PASSWORD_HELP,
                             validators=[DataRequired(), Length(max=4 * MAX_LENGTH)],
                             render_kw={"autocomplete": "new-password"})
    display_name = StringField(_l("Your name (optional)"), validators=[Length(max=200)],
                               render_kw={"autocomplete": "name"})
    locale = SelectField(_l("Language of e-mails"), choices=LANGUAGE_CHOICES, default="en")


class SignInForm(FlaskForm):
    """Sign in with e-mail and password."""

    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Password"),
                             validators=[DataRequired(), Length(max=4 * MAX_LENGTH)],
                             render_kw={"autocomplete": "current-password"})


class ForgotPasswordForm(FlaskForm):
    """Ask for a reset link."""

    email = EmailField(_l("E-mail address"), validators=[DataRequired(), Length(max=320)],
                       render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    """Choose a new password with a reset link."""

    password = PasswordField(_l("New password"), description=_PASSWORD_HELP,
                             validators=[DataRequired(), Length(max=4 * MAX_LENGTH)],
                             render_kw={"autocomplete": "new-password"})


class ProfileForm(FlaskForm):
    """The account's name and language."""

    display_name = StringField(_l("Your name"), validators=[Length(max=200)])
    locale = SelectField(_l("Language"), choices=LANGUAGE_CHOICES)


class ChangePasswordForm(FlaskForm):
    """Change the password of a signed-in person."""

    current_password = PasswordField(_l("Current password"), validators=[
        DataRequired(), Length(max=4 * MAX_LENGTH)],
        render_kw={"autocomplete": "current-password"})
    password = PasswordField(_l("New password"), description=_PASSWORD_HELP,
                             validators=[DataRequired(), Length(max=4 * MAX_LENGTH)],
                             render_kw={"autocomplete": "new-password"})


class ConfirmForm(FlaskForm):
    """A one-button confirmation (verification links: a GET shows it, the POST acts)."""
