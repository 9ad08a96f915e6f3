"""The OAuth 2 and token endpoints: ``/oauth/token``, ``/oauth/revoke`` (RFC 7009),
``/oauth/introspect`` (RFC 7662), the metadata (RFC 8414) and public keys under
``/.well-known/``; the API's ``POST /api/v1/tokens/revoke`` and the organisations' API clients
(``/api/v1/organizations/<id>/clients``). Parse, call the service (or Authlib's server),
commit, answer."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from flask import Blueprint as FlaskBlueprint
from flask import current_app, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.oauth import clients, service
from registry.oauth.keys import verification_jwks
from registry.oauth.schemas import (
    ClientCreateSchema,
    ClientListSchema,
    ClientSchema,
    NewClientSchema,
    TokenRevokedSchema,
    TokenRevokeSchema,
)
from registry.oauth.server import (
    INTROSPECT_PATH,
    METADATA_PATH,
    REVOKE_PATH,
    TOKEN_PATH,
    metadata,
)
from shared.identity.web import current_principal
from shared.problems import Unauthenticated

#: seconds third parties may cache the key set (a new key is also fetched on an unknown kid)
JWKS_MAX_AGE = 300

well_known = FlaskBlueprint("oauth_well_known", __name__)

blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens",
                description="Access tokens: revoke one (RFC 7009 for OAuth clients is at "
                            "/oauth/revoke).")


@well_known.get(METADATA_PATH)
def authorization_server_metadata():
    """RFC 8414 metadata: endpoints, scopes, grants, PKCE methods, key set."""
    response = jsonify(metadata(service.issuer_url()))
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


def _server_response(endpoint: str | None):
    """Authlib's answer, after committing what it wrote (tokens issued, codes spent, and the
    revocations of a detected reuse, which stand even though the request is refused)."""
    server = current_app.extensions["oauth_server"]
    response = (server.create_token_response() if endpoint is None
                else server.create_endpoint_response(endpoint))
    db.session().commit()
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@well_known.post(TOKEN_PATH)
def token():
    """The token endpoint (RFC 6749 §3.2): client_credentials, authorization_code (with
    PKCE code_verifier), refresh_token."""
    return _server_response(None)


@well_known.post(REVOKE_PATH)
def revoke():
    """Token revocation (RFC 7009)."""
    return _server_response("revocation")


@well_known.post(INTROSPECT_PATH)
def introspect():
    """Token introspection (RFC 7662), for confidential clients."""
    return _server_response("introspection")


@well_known.get("/.well-known/jwks.json")
def jwks():
    """The public keys (RFC 7517 JWK Set) that verify the registry's access tokens now: the
    current key and rotated-out keys whose tokens have not all expired yet."""
    response = jsonify({"keys": verification_jwks(db_session=db.session())})
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response


@blp.route("/revoke")
class TokenRevoke(MethodView):
    @blp.arguments(TokenRevokeSchema)
    @blp.response(200, TokenRevokedSchema)
    @blp.doc(security=[{"bearerAuth": []}])
    def post(self, data):
        """Revoke an access token at once (yours; an admin of the organisation its API client
        belongs to; or a secretariat admin). Without ``token``/``jti``: the bearer token of
        this request. Unknown or not yours: 404."""
        principal = current_principal()
        if not principal.is_authenticated:
            raise Unauthenticated("Sign in or send a bearer token to revoke tokens.")
        jti = data.get("jti")
        token = data.get("token")
        if not jti and not token:
            jti = principal.token_id
        session = db.session()
        outcome = service.revoke_access_token(db_session=session, principal=principal, jti=jti,
                                              token=token)
        session.commit()
        return {"jti": outcome.jti, "revoked": outcome.revoked}


clients_blp = Blueprint("clients", __name__, url_prefix="/api/v1/organizations",
                        description="An organisation's API clients (OAuth 2): its own systems "
                                    "(client credentials) and third-party apps (authorization "
                                    "code + PKCE). Organisation admins only.")


@clients_blp.route("/<uuid:organization_id>/clients")
class OrganizationClients(MethodView):
    @clients_blp.response(200, ClientListSchema)
    @clients_blp.doc(security=[{"bearerAuth": []}])
    def get(self, organization_id: uuid.UUID):
        """The organisation's API clients (never their secrets)."""
        items = clients.list_clients(db_session=db.session(), principal=current_principal(),
                                     organization_id=organization_id)
        return {"items": items}

    @clients_blp.arguments(ClientCreateSchema)
    @clients_blp.response(201, NewClientSchema)
    @clients_blp.doc(security=[{"bearerAuth": []}])
    def post(self, data, organization_id: uuid.UUID):
        """Register an API client; the answer holds its ``client_secret``, shown only now."""
        session = db.session()
        made = clients.create_client(db_session=session, principal=current_principal(),
                                     organization_id=organization_id, **data)
        session.commit()
        client = made.client
        return SimpleNamespace(**{name: getattr(client, name) for name in (
            "client_id", "name", "kind", "organization_id", "scope", "redirect_uris",
            "token_endpoint_auth_method", "created_at")}, client_secret=made.client_secret)


@clients_blp.route("/<uuid:organization_id>/clients/<string:client_id>")
class OrganizationClient(MethodView):
    @clients_blp.response(200, ClientSchema)
    @clients_blp.doc(security=[{"bearerAuth": []}])
    def get(self, organization_id: uuid.UUID, client_id: str):
        """One API client."""
        return clients.get_client(db_session=db.session(), principal=current_principal(),
                                  organization_id=organization_id, client_id=client_id)

    @clients_blp.response(204)
    @clients_blp.doc(security=[{"bearerAuth": []}])
    def delete(self, organization_id: uuid.UUID, client_id: str):
        """Delete an API client: its tokens are refused at once."""
        session = db.session()
        clients.delete_client(db_session=session, principal=current_principal(),
                              organization_id=organization_id, client_id=client_id)
        session.commit()
