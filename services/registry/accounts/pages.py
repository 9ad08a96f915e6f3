"""Account pages: sign-up, sign-in, e-mail verification, forgotten and reset password, the
account (name, language, password, sessions, sign-out), contact address confirmation.

Server-rendered on the shared layout, no JavaScript; every form is a Flask-WTF form (CSRF)
posting to the same service functions as the API (``registry.accounts.service``), with the
same rate limits (same Flask-Limiter scopes). One-time links open a page with a button: the
GET shows, the POST acts (no state change through GET, and mail scanners that follow links
redeem nothing).
"""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from registry import db
from registry.accounts import forms, service, sessions
from registry.accounts.models import User
from registry.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from registry.ratelimits import limiter, per_email, per_ip, setting_limit
from shared.i18n import current_language
from shared.problems import NotFound, ValidationError

bp = Blueprint("accounts_pages", __name__, template_folder="templates")

SIGNIN_LIMIT = setting_limit("RATELIMIT_SIGNIN")
SIGNUP_LIMIT = setting_limit("RATELIMIT_SIGNUP")
RESET_LIMIT = setting_limit("RATELIMIT_RESET")


#: (field, code) -> the message pages show (the API says the same in English)
_MESSAGES = {
    ("password", "too_short"): _l("Use at least %(min)s characters.", min=MIN_LENGTH),
    ("password", "too_long"): _l("Use at most %(max)s characters.", max=MAX_LENGTH),
    ("password", "common"): _l("This password is one of the most commonly used; choose "
                               "another."),
    ("password", "is_email"): _l("Do not use your e-mail address as the password."),
    ("email", "invalid"): _l("Enter a valid e-mail address."),
    ("current_password", "wrong"): _l("The current password is wrong."),
    ("locale", "unknown"): _l("Choose one of the languages offered."),
}


def _show_errors(form, exc: ValidationError) -> None:
    """Attach the service's field errors to the form's fields, in the page's language."""
    for error in exc.errors:
        field = getattr(form, error.get("field", ""), None)
        key = (error.get("field") or "", error.get("code") or "")
        message = _MESSAGES.get(key, error["message"])
        if field is not None:
            field.errors = [*field.errors, str(message)]
        else:
            form.form_errors.append(str(message))


def _safe_next(value: str | None) -> str | None:
    """A local path to return to after sign-in, or None (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def _signed_in_user() -> User | None:
    return sessions.current_user()


def _to_sign_in():
    """Redirect to the sign-in page, coming back here afterwards."""
    return redirect(url_for("accounts_pages.sign_in", next=request.full_path.rstrip("?")))


@bp.route("/account/sign-up", methods=["GET", "POST"])
@limiter.shared_limit(SIGNUP_LIMIT, "sign-up", key_func=per_ip, methods=["POST"])
def sign_up():
    """Create an account; the same "check your inbox" page whether or not the address was
    new (no account enumeration)."""
    form = forms.SignUpForm()
    if not form.is_submitted():  # e-mails in the page's language unless the person picks one
        form.locale.data = current_language().code
    if form.validate_on_submit():
        session = db.session()
        try:
            service.sign_up(db_session=session, email=form.email.data or "",
                            password=form.password.data or "",
                            display_name=form.display_name.data or "",
                            locale=form.locale.data, ip=request.remote_addr)
        except ValidationError as exc:
            session.rollback()
            _show_errors(form, exc)
            return render_template("accounts/sign_up.html", form=form), 422
        session.commit()
        return render_template("accounts/check_inbox.html", email=form.email.data,
                               purpose="verify")
    return render_template("accounts/sign_up.html", form=form), (422 if form.errors else 200)


@bp.route("/account/sign-in", methods=["GET", "POST"])
@limiter.shared_limit(SIGNIN_LIMIT, "sign-in-ip", key_func=per_ip, methods=["POST"])
@limiter.shared_limit(SIGNIN_LIMIT, "sign-in-email", key_func=per_email, methods=["POST"])
def sign_in():
    """Sign in; a new session id each time; back to ``next`` (a local path) or the
    account page."""
    form = forms.SignInForm()
    next_url = _safe_next(request.args.get("next"))
    if form.validate_on_submit():
        session = db.session()
        try:
            signed_in = service.sign_in(db_session=session, email=form.email.data or "",
                                        password=form.password.data or "",
                                        ip=request.remote_addr,
                                        user_agent=request.headers.get("User-Agent"))
        except service.SignInFailed:
            session.commit()  # failure counter, lockout, audit
            form.form_errors.append(_("The e-mail address or the password is wrong, or the "
                                      "account is temporarily locked after repeated "
                                      "failures."))
            response = render_template("accounts/sign_in.html", form=form, next_url=next_url)
            return response, 401, {"WWW-Authenticate": 'Cookie realm="partnership-registry", '
                                                        'form-action="/account/sign-in"'}
        session.commit()
        sessions.begin_session(signed_in)
        return redirect(next_url or url_for("accounts_pages.account"), 303)
    return (render_template("accounts/sign_in.html", form=form, next_url=next_url),
            422 if form.errors else 200)


@bp.post("/account/sign-out")
def sign_out():
    """End this browser's session."""
    token = sessions.clear_session()
    session = db.session()
    service.sign_out(db_session=session, token=token, ip=request.remote_addr)
    session.commit()
    flash(_("You are signed out."), "success")
    return redirect("/", 303)


@bp.route("/account/verify/<token>", methods=["GET", "POST"])
@limiter.shared_limit(RESET_LIMIT, "verify", key_func=per_ip, methods=["POST"])
def verify(token: str):
    """Confirm an e-mail address: the link shows a button, the button confirms."""
    form = forms.ConfirmForm()
    session = db.session()
    try:
        if form.validate_on_submit():
            service.verify_email(db_session=session, token=token, ip=request.remote_addr)
            session.commit()
            flash(_("Thank you: your e-mail address is confirmed."), "success")
            target = "account" if _signed_in_user() else "sign_in"
            return redirect(url_for(f"accounts_pages.{target}"), 303)
        service.check_link(db_session=session, token=token,
                           purpose=service.PURPOSE_VERIFY_EMAIL)
    except service.InvalidLink:
        session.rollback()
        return render_template("accounts/invalid_link.html", purpose="verify"), 400
    return render_template("accounts/verify.html", form=form, token=token)


@bp.route("/account/resend-verification", methods=["POST"])
@limiter.shared_limit(RESET_LIMIT, "verify-resend", key_func=per_ip)
def resend_verification():
    """Send the signed-in person a new verification link."""
    user = _signed_in_user()
    if user is None:
        return redirect(url_for("accounts_pages.sign_in"), 303)
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        session = db.session()
        service.request_email_verification(db_session=session, user=user, reason="resend")
        session.commit()
        flash(_("A new confirmation link is on its way to %(email)s.", email=user.email),
              "success")
    return redirect(url_for("accounts_pages.account"), 303)


@bp.route("/account/forgot-password", methods=["GET", "POST"])
@limiter.shared_limit(RESET_LIMIT, "reset-ip", key_func=per_ip, methods=["POST"])
@limiter.shared_limit(RESET_LIMIT, "reset-email", key_func=per_email, methods=["POST"])
def forgot_password():
    """Ask for a reset link; the same answer whether or not an account uses the address."""
    form = forms.ForgotPasswordForm()
    if form.validate_on_submit():
        session = db.session()
        service.request_password_reset(db_session=session, email=form.email.data or "",
                                       ip=request.remote_addr)
        session.commit()
        return render_template("accounts/check_inbox.html", email=form.email.data,
                               purpose="reset")
    return (render_template("accounts/forgot_password.html", form=form),
            422 if form.errors else 200)


@bp.route("/account/reset/<token>", methods=["GET", "POST"])
@limiter.shared_limit(RESET_LIMIT, "reset-confirm", key_func=per_ip, methods=["POST"])
def reset_password(token: str):
    """Choose a new password with a reset link (every session of the account ends)."""
    form = forms.ResetPasswordForm()
    session = db.session()
    try:
        if form.validate_on_submit():
            try:
                service.reset_password(db_session=session, token=token,
                                       password=form.password.data or "",
                                       ip=request.remote_addr)
            except ValidationError as exc:
                session.rollback()
                _show_errors(form, exc)
                return render_template("accounts/reset_password.html", form=form,
                                       token=token), 422
            session.commit()
            sessions.clear_session()
            flash(_("Your new password is set. Sign in with it."), "success")
            return redirect(url_for("accounts_pages.sign_in"), 303)
        service.check_link(db_session=session, token=token,
                           purpose=service.PURPOSE_RESET_PASSWORD)
    except service.InvalidLink:
        session.rollback()
        return render_template("accounts/invalid_link.html", purpose="reset"), 400
    return (render_template("accounts/reset_password.html", form=form, token=token),
            422 if form.errors else 200)


def _account_page(user: User, profile=None, password=None, status: int = 200):
    current = sessions.current_web_session()
    profile = profile or forms.ProfileForm(formdata=None, prefix="profile",
                                           display_name=user.display_name, locale=user.locale)
    password = password or forms.ChangePasswordForm(formdata=None, prefix="password")
    live = service.list_sessions(db_session=db.session(), user=user)
    return render_template("accounts/account.html", user=user, profile=profile,
                           password_form=password, sessions=live,
                           current_id=current.id if current else None), status


@bp.get("/account")
def account():
    """The signed-in person's account."""
    user = _signed_in_user()
    return _account_page(user) if user is not None else _to_sign_in()


@bp.post("/account/profile")
def profile():
    """Change name and language."""
    user = _signed_in_user()
    if user is None:
        return _to_sign_in()
    form = forms.ProfileForm(prefix="profile")
    if not form.validate_on_submit():
        return _account_page(user, profile=form, status=422)
    session = db.session()
    service.update_account(db_session=session, user=user, display_name=form.display_name.data,
                           locale=form.locale.data)
    session.commit()
    flash(_("Your account is updated."), "success")
    return redirect(url_for("accounts_pages.account"), 303)


@bp.post("/account/password")
def change_password():
    """Change the password; the other sessions end."""
    user = _signed_in_user()
    if user is None:
        return _to_sign_in()
    form = forms.ChangePasswordForm(prefix="password")
    if not form.validate_on_submit():
        return _account_page(user, password=form, status=422)
    session = db.session()
    current = sessions.current_web_session()
    try:
        service.change_password(db_session=session, user=user,
                                current_password=form.current_password.data or "",
                                new_password=form.password.data or "",
                                keep_session=current.id if current else None,
                                ip=request.remote_addr)
    except ValidationError as exc:
        session.commit()  # the audit row of a wrong current password
        _show_errors(form, exc)
        return _account_page(user, password=form, status=422)
    session.commit()
    flash(_("Your password is changed; your other sessions are signed out."), "success")
    return redirect(url_for("accounts_pages.account"), 303)


@bp.post("/account/sessions/<uuid:session_id>/sign-out")
def revoke_session(session_id: uuid.UUID):
    """Sign out one of the account's sessions."""
    user = _signed_in_user()
    if user is None:
        return _to_sign_in()
    form = forms.ConfirmForm()
    if form.validate_on_submit():
        session = db.session()
        try:
            service.revoke_session(db_session=session, user=user,
                                   session_id=session_id, ip=request.remote_addr)
        except NotFound:
            session.rollback()
            return redirect(url_for("accounts_pages.account"), 303)
        session.commit()
        flash(_("That session is signed out."), "success")
    return redirect(url_for("accounts_pages.account"), 303)


@bp.route("/contact/verify/<token>", methods=["GET", "POST"])
@limiter.shared_limit(RESET_LIMIT, "contact-verify", key_func=per_ip, methods=["POST"])
def verify_contact(token: str):
    """Confirm an initiative's contact address (then it gets the review e-mails)."""
    form = forms.ConfirmForm()
    session = db.session()
    try:
        if form.validate_on_submit():
            email = service.verify_contact_email(db_session=session, token=token,
                                                 ip=request.remote_addr)
            session.commit()
            return render_template("accounts/contact_verified.html", email=email)
        row = service.check_link(db_session=session, token=token,
                                 purpose=service.PURPOSE_VERIFY_CONTACT)
    except service.InvalidLink:
        session.rollback()
        return render_template("accounts/invalid_link.html", purpose="contact"), 400
    return render_template("accounts/verify_contact.html", form=form, token=token,
                           email=row.email)
