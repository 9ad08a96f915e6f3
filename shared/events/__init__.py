"""The event contract between the services: CloudEvents 1.0 envelope and versioned payloads.

Every event the services exchange is declared here, once: its ``type`` (reverse-DNS, versioned),
the topic it travels on, and the marshmallow schema of its ``data``. Producers dump with these
schemas; consumers load with them (and so never trust what arrives).
"""

from shared.events.envelope import (
    CloudEvent,
    InvalidEvent,
    event_from_message,
    event_to_message,
    new_event,
)
from shared.events.types import (
    EVENT_TYPES,
    INITIATIVE_APPROVED,
    INITIATIVE_CHANGES_REQUESTED,
    INITIATIVE_CREATED,
    INITIATIVE_IMPORTED,
    INITIATIVE_REJECTED,
    INITIATIVE_SUBMITTED,
    INITIATIVE_UPDATED,
    ORGANIZATION_CREATED,
    TOPIC_INITIATIVES,
    TOPIC_ORGANIZATIONS,
    InitiativeEventData,
    InitiativeSnapshot,
    OrganizationEventData,
    OrganizationRef,
    load_data,
    topic_name,
)

__all__ = [
    "EVENT_TYPES",
    "INITIATIVE_APPROVED",
    "INITIATIVE_CHANGES_REQUESTED",
    "INITIATIVE_CREATED",
    "INITIATIVE_IMPORTED",
    "INITIATIVE_REJECTED",
    "INITIATIVE_SUBMITTED",
    "INITIATIVE_UPDATED",
    "ORGANIZATION_CREATED",
    "TOPIC_INITIATIVES",
    "TOPIC_ORGANIZATIONS",
    "CloudEvent",
    "InitiativeEventData",
    "InitiativeSnapshot",
    "InvalidEvent",
    "OrganizationEventData",
    "OrganizationRef",
    "event_from_message",
    "event_to_message",
    "load_data",
    "new_event",
    "topic_name",
]
