"""``/api/v1/account``, ``/api/v1/staff``, ``/api/v1/contact-emails``: parse with a schema,
call the service, dump with a schema.

Anonymous writes are allowed on purpose on sign-up, sign-in, verification, reset request and
reset confirmation (there is nobody to authenticate yet); they are rate-limited per client
address and per e-mail (``registry.ratelimits``).
"""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, g, request
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.accounts import service, sessions
from registry.accounts.models import User
from registry.accounts.schemas import (
    AcceptedSchema,
    AccountSchema,
    AccountUpdateSchema,
    ChangePasswordSchema,
    ContactVerifiedSchema,
    EmailSchema,
    ResetPasswordSchema,
    SessionSchema,
    SignInSchema,
    SignUpSchema,
    StaffGrantSchema,
    StaffMemberSchema,
    TokenSchema,
)
from registry.ratelimits import limiter, per_email, per_ip, setting_limit
from shared.anonymous import anonymous_write
from shared.identity import ANONYMOUS, Principal
from shared.problems import NotFound, Unauthenticated, problem

blp = Blueprint("account", __name__, url_prefix="/api/v1/account",
                description="People's accounts: sign-up, e-mail verification, sign-in and "
                            "sign-out (browser sessions), password reset and change, the "
                            "account's name and language, its sessions.")
staff_blp = Blueprint("staff", __name__, url_prefix="/api/v1/staff",
                      description="Secretariat staff roles (reviewer, secretariat_admin); "
                                  "secretariat admins only.")
contact_blp = Blueprint("contact_emails", __name__, url_prefix="/api/v1/contact-emails",
                        description="Verification of initiatives' contact addresses: the "
                                    "notifier writes to a contact only once it is verified.")

SIGNIN_LIMIT = setting_limit("RATELIMIT_SIGNIN")
SIGNUP_LIMIT = setting_limit("RATELIMIT_SIGNUP")
RESET_LIMIT = setting_limit("RATELIMIT_RESET")

_SESSION_DOC: dict[str, Any] = {"security": [{"sessionCookie": []}, {"bearerAuth": []}]}
_ACCEPTED = {"status": "accepted"}
TOO_MANY = "Too many attempts (problem+json; `Retry-After`: seconds to wait)."


def _principal() -> Principal:
    return g.get("principal", ANONYMOUS)


def require_user() -> User:
    """The signed-in person, else :class:`Unauthenticated` (401)."""
    user = sessions.current_user()
    if user is None:
        raise Unauthenticated("Sign in first.")
    return user


def _ip() -> str | None:
    return request.remote_addr


@blp.route("/sign-up")
class SignUp(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(SIGNUP_LIMIT, "sign-up", key_func=per_ip)
    @blp.arguments(SignUpSchema)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(429, description=TOO_MANY)
    def post(self, data):
        """Create an account (anonymous): a verification link is e-mailed in the chosen
        language. An address that already has an account gets the same answer (no account
        enumeration). 422 for a refused password (8–128 characters, not a common one)."""
        session = db.session()
        service.sign_up(db_session=session, ip=_ip(), **data)
        session.commit()
        return {**_ACCEPTED, "detail": "If the address can receive mail, a verification link "
                                       "is on its way."}


@blp.route("/verify")
class Verify(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(RESET_LIMIT, "verify", key_func=per_ip)
    @blp.arguments(TokenSchema)
    @blp.response(200, AccountSchema)
    @blp.alt_response(400, description="Invalid, used or expired link.")
    @blp.alt_response(429, description=TOO_MANY)
    def post(self, data):
        """Redeem an e-mail verification link (anonymous; single use, expiring). 400 for an
        invalid, used or expired link."""
        session = db.session()
        user = service.verify_email(db_session=session, token=data["token"], ip=_ip())
        session.commit()
        return user


@blp.route("/verify/resend")
class VerifyResend(MethodView):
    @limiter.shared_limit(RESET_LIMIT, "verify-resend", key_func=per_ip)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(429, description=TOO_MANY)
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def post(self):
        """Send the signed-in person a new verification link (older ones stop working)."""
        user = require_user()
        session = db.session()
        service.request_email_verification(db_session=session, user=user, reason="resend")
        session.commit()
        return {**_ACCEPTED, "detail": "A new verification link is on its way."}


@blp.route("/sign-in")
class SignIn(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(SIGNIN_LIMIT, "sign-in-ip", key_func=per_ip)
    @limiter.shared_limit(SIGNIN_LIMIT, "sign-in-email", key_func=per_email)
    @blp.arguments(SignInSchema)
    @blp.response(200, AccountSchema)
    @blp.alt_response(429, description=TOO_MANY)
    @blp.alt_response(401, description="Wrong e-mail or password, or the account is "
                                       "temporarily locked (one message for all).")
    def post(self, data):
        """Sign in with e-mail and password (anonymous): opens a browser session (cookie
        ``session`` locally, ``__Host-session`` in production; a new id at each sign-in).
        After ``SIGNIN_LOCKOUT_THRESHOLD`` failures in a row the account is locked for
        ``SIGNIN_LOCKOUT_MINUTES``."""
        session = db.session()
        try:
            signed_in = service.sign_in(db_session=session, email=data["email"],
                                        password=data["password"], ip=_ip(),
                                        user_agent=request.headers.get("User-Agent"))
        except service.SignInFailed:
            session.commit()  # the failure counter, lockout and audit row
            raise
        session.commit()
        sessions.begin_session(signed_in)
        return signed_in.user


@blp.route("/sign-out")
class SignOut(MethodView):
    @blp.response(204)
    def post(self):
        """End the browser session of this cookie (no-op without one)."""
        token = sessions.clear_session()
        session = db.session()
        service.sign_out(db_session=session, token=token, ip=_ip())
        session.commit()


@blp.route("/password-reset")
class PasswordReset(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(RESET_LIMIT, "reset-ip", key_func=per_ip)
    @limiter.shared_limit(RESET_LIMIT, "reset-email", key_func=per_email)
    @blp.arguments(EmailSchema)
    @blp.response(202, AcceptedSchema)
    @blp.alt_response(429, description=TOO_MANY)
    def post(self, data):
        """Ask for a password reset link (anonymous; e-mailed, single use, valid
        ``RESET_LINK_MINUTES``). The answer is the same whether or not the address has an
        account."""
        session = db.session()
        service.request_password_reset(db_session=session, email=data["email"], ip=_ip())
        session.commit()
        return {**_ACCEPTED, "detail": "If an account uses this address, a reset link is on "
                                       "its way."}


@blp.route("/password-reset/confirm")
class PasswordResetConfirm(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(RESET_LIMIT, "reset-confirm", key_func=per_ip)
    @blp.arguments(ResetPasswordSchema)
    @blp.response(204)
    @blp.alt_response(400, description="Invalid, used or expired link.")
    @blp.alt_response(429, description=TOO_MANY)
    def post(self, data):
        """Set a new password with a reset link (anonymous). Every session of the account
        ends; the lockout is lifted. 400 for an invalid/used/expired link, 422 for a refused
        password (the link then stays usable)."""
        session = db.session()
        service.reset_password(db_session=session, token=data["token"],
                               password=data["password"], ip=_ip())
        session.commit()


@blp.route("/password")
class Password(MethodView):
    @blp.arguments(ChangePasswordSchema)
    @blp.response(204)
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def post(self, data):
        """Change the signed-in person's password (the current one is asked again); their
        other sessions end."""
        user = require_user()
        session = db.session()
        current = sessions.current_web_session()
        service.change_password(db_session=session, user=user,
                                current_password=data["current_password"],
                                new_password=data["password"],
                                keep_session=current.id if current else None, ip=_ip())
        session.commit()


@blp.route("")
class Account(MethodView):
    @blp.response(200, AccountSchema)
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def get(self):
        """The signed-in person's account."""
        return require_user()

    @blp.arguments(AccountUpdateSchema)
    @blp.response(200, AccountSchema)
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def patch(self, data):
        """Change the display name and/or language (``en``, ``zh``, ``ar``, ``fr``, ``ru``,
        ``es``)."""
        user = require_user()
        session = db.session()
        service.update_account(db_session=session, user=user, **data)
        session.commit()
        return user


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.response(200, SessionSchema(many=True))
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def get(self):
        """The account's live browser sessions, newest first (``current`` marks this one)."""
        user = require_user()
        current = sessions.current_web_session()
        return [{"id": s.id, "created_at": s.created_at, "last_seen_at": s.last_seen_at,
                 "expires_at": s.expires_at, "ip": s.ip, "user_agent": s.user_agent,
                 "current": current is not None and s.id == current.id}
                for s in service.list_sessions(db_session=db.session(), user=user)]


@blp.route("/sessions/<uuid:session_id>")
class SessionItem(MethodView):
    @blp.response(204)
    @blp.doc(**_SESSION_DOC)
    @blp.alt_response(401, description="Not signed in.")
    def delete(self, session_id: uuid.UUID):
        """Sign out one of the account's sessions (e.g. on a computer left behind)."""
        user = require_user()
        session = db.session()
        service.revoke_session(db_session=session, user=user, session_id=session_id, ip=_ip())
        session.commit()


@staff_blp.route("")
class Staff(MethodView):
    @staff_blp.response(200, StaffMemberSchema(many=True))
    @staff_blp.doc(**_SESSION_DOC)
    @staff_blp.alt_response(401, description="Not signed in.")
    @staff_blp.alt_response(403, description="Not a secretariat admin.")
    def get(self):
        """Everyone holding a secretariat role (secretariat admins only)."""
        return service.list_staff(db_session=db.session(), principal=_principal())

    @staff_blp.arguments(StaffGrantSchema)
    @staff_blp.response(200, StaffMemberSchema)
    @staff_blp.doc(**_SESSION_DOC)
    @staff_blp.alt_response(401, description="Not signed in.")
    @staff_blp.alt_response(403, description="Not a secretariat admin.")
    def post(self, data):
        """Grant a secretariat role to the account with this e-mail (secretariat admins
        only; 404 when no account uses the address)."""
        session = db.session()
        principal = _principal()
        service.require_secretariat_admin(principal)
        user = service.find_user_by_email(db_session=session, email=data["email"])
        if user is None:
            raise NotFound("No account uses this e-mail address.")
        service.grant_staff_role(db_session=session, principal=principal, user_id=user.id,
                                 role=data["role"], ip=_ip())
        session.commit()
        return user


@staff_blp.route("/<uuid:user_id>/roles/<string:role>")
class StaffRoleItem(MethodView):
    @staff_blp.response(200, StaffMemberSchema)
    @staff_blp.doc(**_SESSION_DOC)
    @staff_blp.alt_response(401, description="Not signed in.")
    @staff_blp.alt_response(403, description="Not a secretariat admin.")
    def delete(self, user_id: uuid.UUID, role: str):
        """Revoke a secretariat role (secretariat admins only; 409 for the last secretariat
        admin)."""
        session = db.session()
        user = service.revoke_staff_role(db_session=session, principal=_principal(),
                                         user_id=user_id, role=role, ip=_ip())
        session.commit()
        return user


@contact_blp.route("/verify")
class ContactVerify(MethodView):
    @anonymous_write  # nobody to authenticate yet (rate-limited instead)
    @limiter.shared_limit(RESET_LIMIT, "contact-verify", key_func=per_ip)
    @contact_blp.arguments(TokenSchema)
    @contact_blp.response(200, ContactVerifiedSchema)
    @contact_blp.alt_response(400, description="Invalid, used or expired link.")
    @contact_blp.alt_response(429, description=TOO_MANY)
    def post(self, data):
        """Confirm a contact address with the link e-mailed to it (anonymous; single use)."""
        session = db.session()
        email = service.verify_contact_email(db_session=session, token=data["token"],
                                             ip=_ip())
        session.commit()
        return {"email": email}


def register_accounts(app: Flask, api) -> None:
    """Register the blueprints, the session hook, the cookie security scheme in the OpenAPI
    document and the sign-in failure answer (401 with ``WWW-Authenticate``)."""
    api.spec.components.security_scheme(
        "sessionCookie", {"type": "apiKey", "in": "cookie",
                          "name": app.config.get("SESSION_COOKIE_NAME") or "session",
                          "description": "Browser session (sign in with "
                                         "POST /api/v1/account/sign-in)."})
    api.register_blueprint(blp)
    api.register_blueprint(staff_blp)
    api.register_blueprint(contact_blp)
    from registry.accounts.pages import bp as pages_bp

    app.register_blueprint(pages_bp)
    sessions.register_session_auth(app)

    @app.errorhandler(service.SignInFailed)
    def _sign_in_failed(exc: service.SignInFailed):
        response = problem(exc.status, exc.title, exc.detail, slug=exc.slug)
        # draft-broyer-http-cookie-auth: a form, not a header, carries the credentials
        response.headers["WWW-Authenticate"] = (
            'Cookie realm="partnership-registry", form-action="/api/v1/account/sign-in"')
        return response
