"""The secretariat's review desk (pages): the review queue, the review page of a submission,
a completion declaration or a revision, with the SMART check, the diff, the thread and the
decision buttons."""
