"""``/api/v1/subscriptions``: public, read-only facts about how the registry notifies."""

from __future__ import annotations

from flask_smorest import Blueprint

from notifier.deliveries.schemas import ChannelSchema

blp = Blueprint("channels", __name__, url_prefix="/api/v1/subscriptions",
                description="How the registry notifies people.")

CHANNEL_LIST = (
    {"code": "email", "name": "E-mail",
     "description": "Messages to an initiative's contact address on each review step, and to "
                    "the secretariat on each submission (plain text and HTML); reminders to "
                    "report progress to the owner organisation's members (with one-click "
                    "unsubscribe, RFC 8058) and the secretariat's weekly reporting digest."},
)


@blp.route("/channels")
@blp.response(200, ChannelSchema(many=True))
def list_channels():
    """List the delivery channels the notifier supports (public)."""
    return list(CHANNEL_LIST)
