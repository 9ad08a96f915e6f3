"""The summary report: counts of published initiatives by goal, region, stakeholder group."""
