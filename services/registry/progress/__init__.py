"""Progress reports of published initiatives (issue 9): the owner reports each year (period,
narrative, overall status, progress 0-100, deliverable updates, milestones, resources
mobilised, indicator actuals in the IATI result model); the secretariat reviews them with the
generic workflow machinery (``registry.workflow``)."""
