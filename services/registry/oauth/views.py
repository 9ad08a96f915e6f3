"""Token endpoints of the API: the public key set (``/.well-known/jwks.json``) and
``POST /api/v1/tokens/revoke``. Parse with a schema, call the service, dump with a schema."""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint

from registry import db
from registry.oauth import service
from registry.oauth.keys import verification_jwks
from registry.oauth.schemas import TokenRevokedSchema, TokenRevokeSchema
from shared.identity.web import current_principal
from shared.problems import Unauthenticated

#: seconds third parties may cache the key set (a new key is also fetched on an unknown kid)
JWKS_MAX_AGE = 300

well_known = FlaskBlueprint("oauth_well_known", __name__)

blp = Blueprint("tokens", __name__, url_prefix="/api/v1/tokens",
                description="Access tokens: revoke one (RFC 7009 for OAuth clients is at "
                            "/oauth/revoke).")


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
