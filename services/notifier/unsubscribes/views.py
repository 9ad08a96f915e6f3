"""``/api/v1/unsubscribe/<token>``: the unsubscribe link as an API (GET: what it names; POST:
unsubscribe at once). Public: the signed token is the proof (no bearer token, no CSRF)."""

from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from notifier import db
from notifier.unsubscribes.schemas import SubscriptionSchema
from notifier.unsubscribes.service import subscription, unsubscribe
from shared.anonymous import anonymous_write

blp = Blueprint("unsubscribe_api", __name__, url_prefix="/api/v1/unsubscribe",
                description="Leave the progress report reminders with the token of an "
                            "e-mail's unsubscribe link (RFC 8058).")


@blp.get("/<token>")
@blp.response(200, SubscriptionSchema)
def show(token: str):
    """What an unsubscribe token names and whether its address already left the list; 404
    for a token that is not valid (forged, cut or altered)."""
    return subscription(token, db_session=db.session(),
                        secret_key=current_app.config["SECRET_KEY"])


@blp.post("/<token>")
@anonymous_write  # the signed token is the proof (RFC 8058: no sign-in)
@blp.response(200, SubscriptionSchema)
def leave(token: str):
    """Unsubscribe the token's address from its list at once (repeating it changes nothing):
    no reminder of that list is sent to it any more, including those still waiting. 404 for a
    token that is not valid."""
    return unsubscribe(token, db_session=db.session(),
                       secret_key=current_app.config["SECRET_KEY"], via="api")
