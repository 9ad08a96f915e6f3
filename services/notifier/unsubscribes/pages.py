"""``/unsubscribe/<token>``: the page a reminder's unsubscribe link opens (GET: what the link
does, with one button) and the RFC 8058 one-click endpoint (POST, body
``List-Unsubscribe=One-Click``, sent by mail clients or by that button). No sign-in and no CSRF
token: the signed token is the proof (``notifier.unsubscribes.service``). Exempt from the CSRF
check in ``notifier.app``. An invalid token answers 404 with a page saying so, never a 500."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template

from notifier import db
from notifier.unsubscribes.service import subscription, unsubscribe
from shared.problems import NotFound

bp = Blueprint("unsubscribes", __name__, url_prefix="/unsubscribe",
               template_folder="templates")


def _secret() -> str:
    return current_app.config["SECRET_KEY"]


@bp.get("/<token>")
def confirm(token: str):
    """The confirmation page: which address leaves which list, and the button (a form POSTing
    ``List-Unsubscribe=One-Click`` to this URL); or that it already left."""
    try:
        current = subscription(token, db_session=db.session(), secret_key=_secret())
    except NotFound:
        return render_template("unsubscribes/invalid.html"), 404
    return render_template("unsubscribes/confirm.html", subscription=current)


@bp.post("/<token>")
def one_click(token: str):
    """Unsubscribe at once (RFC 8058 one-click, or the page's button); 200 with a page saying
    it is done. Repeating it changes nothing."""
    try:
        done = unsubscribe(token, db_session=db.session(), secret_key=_secret(), via="web")
    except NotFound:
        return render_template("unsubscribes/invalid.html"), 404
    return render_template("unsubscribes/done.html", subscription=done)
