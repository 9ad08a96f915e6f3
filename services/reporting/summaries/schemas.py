"""marshmallow schemas of the summary report's API (output only: the endpoints take no input)."""

from __future__ import annotations

from marshmallow import Schema, fields


def _counts(description: str) -> fields.Dict:
    return fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                       metadata={"description": description})


class SummarySchema(Schema):
    """``GET /api/v1/reports/summary``: counts of the read model (``reporting.summaries.service``).

    Every breakdown but ``by_status`` counts published initiatives only; an initiative counts
    once under each goal / region it is tagged with. ``generated_at`` is RFC 3339 UTC.
    """

    total = fields.Integer(required=True, metadata={"description": "Published initiatives."})
    by_sdg_goal = _counts('Published initiatives per SDG goal, keys "1" to "17" (zeros '
                          "included); one initiative counts under each goal it is tagged with.")
    by_region = _counts("Published initiatives per top-level UN M49 region: Africa, Americas, "
                        "Asia, Europe, Oceania always; World (tagged 001) and Unspecified "
                        "(no country or region) when non-zero.")
    by_stakeholder_group = _counts("Published initiatives per stakeholder group code of the "
                                   "lead organisation (every code present; 'unspecified' when "
                                   "some have no lead organisation).")
    by_reporting_status = _counts("Published initiatives per reporting light (UN DESA's rule "
                                  "since 2018): green (a progress report approved within 12 "
                                  "months of publication or of the last report), yellow "
                                  "(overdue), red (overdue 24 months: shown as inactive); "
                                  "keys green, yellow, red always present.")
    by_status = _counts("ALL initiatives known to the read model per workflow status (the only "
                        "breakdown not limited to published ones), every status present: "
                        "draft, submitted, changes_requested, published, rejected, "
                        "completion_declared, completed, archived, withdrawn, suspended.")
    generated_at = fields.AwareDateTime(required=True, format="iso",
                                        metadata={"description": "RFC 3339, UTC."})
