"""The reporting service: a read model of initiatives built only from events, and its reports.

It consumes ``registry.initiatives`` (consumer group ``reporting``), keeps its own tables
(``report_*``) and never reads the registry's database. Domains:

* ``reporting.readmodel`` — the read model: one row per initiative plus child tables, upserted
  from every ``org.partnership-registry.initiative.*.v1`` snapshot;
* ``reporting.summaries`` — the summary report (JSON, CSV, HTML), served by the API and
  written by ``reporting summary``.
"""
