"""The registry's one workflow machinery: transition tables (``machine``), the authorize ->
transition -> timeline -> outbox path (``service``), the generic timeline table
(``models.Activity``), the review thread (``thread``) and the review queue (``queue``)."""
