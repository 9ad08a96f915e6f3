"""Pages of the OAuth domain: the consent page (``/oauth/authorize``) where a signed-in person
lets a third-party app act for them, and an organisation's API clients
(``/organizations/<id>/clients``: list, register, delete) for its admins.

Both go through the same service functions as the API (:mod:`registry.oauth.clients`, Authlib's
server in :mod:`registry.oauth.server`); forms are Flask-WTF (CSRF); every string is in the
catalogues (en, zh). The "my organisations" page of the ``authz`` branch links here (its API
clients section) until it embeds the list itself.
"""

from __future__ import annotations

import uuid

from authlib.oauth2 import OAuth2Error
from flask import (
    Blueprint,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    widgets,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from registry import db
from registry.oauth import clients
from registry.oauth.server import AUTHORIZE_PATH
from shared.identity import Principal, PrincipalKind, Scope
from shared.identity.web import current_principal
from shared.problems import DomainError, NotFound

bp = Blueprint("oauth_pages", __name__, template_folder="templates")

#: what each scope lets an app do, as the consent page says it
SCOPE_LABELS = {
    Scope.INITIATIVES_READ: _l("Read initiatives, including your drafts"),
    Scope.INITIATIVES_WRITE: _l("Create, edit and submit initiatives in your name"),
    Scope.ORGANIZATIONS_WRITE: _l("Register and update organisations in your name"),
    Scope.REVIEW: _l("Review submissions as the secretariat"),
    Scope.SUBSCRIPTIONS_READ: _l("Read your notification subscriptions"),
    Scope.SUBSCRIPTIONS_WRITE: _l("Change your notification subscriptions"),
    Scope.REPORTS_READ: _l("Read reports"),
    Scope.PROGRESS_WRITE: _l("Submit progress reports of your organisation's initiatives"),
}


def _person() -> Principal | None:
    """The signed-in person (a session, or a person's own token: never an app's token)."""
    principal = current_principal()
    if principal.kind is PrincipalKind.USER and principal.client_id is None:
        return principal
    return None


def _sign_in_first() -> ResponseReturnValue:
    if "accounts_pages.sign_in" in current_app.view_functions:
        return redirect(url_for("accounts_pages.sign_in",
                                next=request.full_path.rstrip("?")))
    return render_template("oauth/sign_in_first.html"), 401


@bp.route(AUTHORIZE_PATH, methods=["GET", "POST"])
def authorize():
    """The consent page (RFC 6749 §4.1.1): GET shows which app asks for what; POST with
    ``decision=allow`` sends the person back to the app with a code, anything else with
    ``access_denied``. Invalid client or redirect URI: an error page, never a redirect."""
    person = _person()
    if person is None:
        return _sign_in_first()
    server = current_app.extensions["oauth_server"]
    try:
        grant = server.get_consent_grant(end_user=person)
    except OAuth2Error as error:
        if getattr(error, "redirect_uri", None):  # the client and its redirect URI are known
            return server.handle_error_response(None, error)
        return render_template("oauth/error.html", error=error.error,
                               description=error.get_error_description()), 400
    if request.method == "GET":
        client = grant.client
        scopes = [Scope(s) for s in (grant.request.scope or "").split() if s in
                  {x.value for x in Scope}]
        return render_template("oauth/authorize.html", client=client, person=person,
                               scopes=[(s.value, SCOPE_LABELS[s]) for s in scopes],
                               organization=_organization_name(client.organization_id))
    granted = person if request.form.get("decision") == "allow" else None
    response = server.create_authorization_response(grant_user=granted, grant=grant)
    db.session().commit()
    return response


def _organization_name(organization_id: uuid.UUID | None) -> str | None:
    from registry.organizations.models import Organization

    org = db.session().get(Organization, organization_id) if organization_id else None
    return org.name if org is not None else None


# -- an organisation's API clients --------------------------------------------------------------
class MultiCheckboxField(SelectMultipleField):
    """Checkboxes for a multiple choice."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ClientForm(FlaskForm):
    """Register an API client."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=[
        SelectChoice("organization", _l("Our own system (acts for the organisation)")),
        SelectChoice("application", _l("An application that acts for people who allow it"))])
    scopes = MultiCheckboxField(_l("Permissions"), choices=[
        SelectChoice(s.value, SCOPE_LABELS[s]) for s in Scope if s is not Scope.REVIEW])
    redirect_uris = TextAreaField(
        _l("Redirect URIs"), validators=[Length(max=5000)],
        description=_l("Applications only: one https address per line."))
    public = BooleanField(_l("Public application (no secret: a mobile or browser app)"))


def _client_page(organization_id: uuid.UUID, form: ClientForm, status: int = 200,
                 new_client=None):
    items = clients.list_clients(db_session=db.session(), principal=current_principal(),
                                 organization_id=organization_id)
    return render_template("oauth/clients.html", form=form, items=items,
                           organization_id=organization_id, new_client=new_client,
                           organization=_organization_name(organization_id)), status


@bp.route("/organizations/<uuid:organization_id>/clients", methods=["GET", "POST"])
def organization_clients(organization_id: uuid.UUID):
    """The organisation's API clients and the form to register one (admins only); the new
    client's secret is shown once, on the page that answers the form."""
    if not current_principal().is_authenticated:
        return _sign_in_first()
    form = ClientForm()
    try:
        if request.method == "GET" or not form.validate_on_submit():
            return _client_page(organization_id, form, 200 if request.method == "GET" else 422)
        session = db.session()
        made = clients.create_client(
            db_session=session, principal=current_principal(), organization_id=organization_id,
            name=form.name.data, kind=form.kind.data, scopes=form.scopes.data or None,
            redirect_uris=[u.strip() for u in (form.redirect_uris.data or "").splitlines()
                           if u.strip()],
            public=bool(form.public.data))
        session.commit()
        return _client_page(organization_id, ClientForm(formdata=None), 201, made)
    except NotFound:
        return render_template("not_found.html", message=_("There is no page at this "
                                                           "address.")), 404
    except DomainError as exc:
        if exc.status in (401, 403):
            return render_template("oauth/error.html", error="forbidden",
                                   description=_("Only the organisation's admins manage its "
                                                 "API clients.")), exc.status
        for error in exc.errors:
            field = getattr(form, error.get("field", ""), None)
            if field is not None:
                field.errors = [*field.errors, error["message"]]
        db.session().rollback()
        return _client_page(organization_id, form, 422)


@bp.post("/organizations/<uuid:organization_id>/clients/<string:client_id>/delete")
def delete_organization_client(organization_id: uuid.UUID, client_id: str):
    """Delete an API client (its tokens are refused at once), back to the list."""
    if not current_principal().is_authenticated:
        return _sign_in_first()
    session = db.session()
    try:
        clients.delete_client(db_session=session, principal=current_principal(),
                              organization_id=organization_id, client_id=client_id)
    except NotFound:
        return render_template("not_found.html", message=_("There is no page at this "
                                                           "address.")), 404
    except DomainError as exc:
        return render_template("oauth/error.html", error="forbidden",
                               description=exc.detail), exc.status
    session.commit()
    flash(_("The API client was deleted; its tokens no longer work."), "success")
    return redirect(url_for("oauth_pages.organization_clients",
                            organization_id=organization_id), 303)
