"""The bare reference: a minimal Flask + SQLAlchemy app on the product's database (issue 6).

It is what "the bare stack" can do on this machine: the same framework, ORM, driver, database
and WSGI server with the same thread count as the product's ``serve``
(``shared.cli.serve_app``), and nothing else — no relationships, no schemas, no auth, no
logging, no outbox. Every product figure is divided by the matching figure of this app measured
in the same run.

* ``GET /ref/list`` — 20 published rows of ``initiatives`` by ``published_at`` (indexed), as
  JSON with a few fields.
* ``GET /ref/item/<uuid>`` — one ``initiatives`` row by primary key (404 when absent).
* ``POST /ref/insert`` — a 1-row insert into its own table ``bench_reference_rows`` (created at
  start): JSON ``{"title": str, "body": any}``, answers 201 ``{"id": ...}``.
* ``POST /ref/update/<uuid>`` — a one-row update of that table (``status``, ``updated_at``),
  for review-desk style figures; 404 when absent.
* ``POST /ref/transition/<uuid>`` — the review desk's bare transition (issue 8): one UPDATE of
  one ``initiatives`` row (``status`` from the JSON body, default ``published``;
  ``version + 1``; ``updated_at``), in its own transaction; 404 when absent. No state check,
  no timeline, no outbox: what a status change costs on this stack and nothing more.
* ``GET /ref/queue`` — the bare review queue: the 50 oldest ``submitted`` initiatives
  (id, title, submitted_at) and their count, as JSON.
* ``GET /ref/queue_page`` — the same rows as a bare server-rendered HTML table (Jinja, no
  layout, no translations).
* ``GET /ref/diff/<uuid>?from=1&to=5`` — the bare diff: two ``initiative_versions`` rows by
  primary key, their top-level fields compared (changed names, before and after), as JSON.

Run: ``.venv/bin/python bench/reference_app.py --port 5099 --database-url postgresql+psycopg://…``
"""

from __future__ import annotations

import argparse
import inspect
import signal
import uuid
from datetime import UTC, date, datetime

from flask import Flask, abort, jsonify, render_template_string, request
from sqlalchemy import DateTime, String, Text, Uuid, create_engine, func, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker


class Base(DeclarativeBase):
    pass


class Initiative(Base):
    """The few columns of the product's ``initiatives`` the reference reads (no relationships)."""

    __tablename__ = "initiatives"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    public_id: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ReferenceRow(Base):
    """The reference's own table for the 1-row insert and update."""

    __tablename__ = "bench_reference_rows"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(30), default="draft")
    body: Mapped[dict | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


QUEUE_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Review queue</title></head><body><h1>Review queue ({{ total }})</h1>
<table><thead><tr><th>Title</th><th>Submitted</th></tr></thead><tbody>
{% for r in rows %}<tr><td><a href="/ref/item/{{ r.id }}">{{ r.title }}</a></td>
<td>{{ r.submitted_at.strftime("%Y-%m-%d %H:%M") if r.submitted_at }}</td></tr>
{% endfor %}</tbody></table></body></html>"""


def _summary(i: Initiative) -> dict:
    return {"id": str(i.id), "public_id": i.public_id, "status": i.status, "title": i.title,
            "published_at": i.published_at.isoformat() if i.published_at else None}


def create_app(database_url: str) -> Flask:
    """The reference app on ``database_url`` (creates ``bench_reference_rows`` if missing)."""
    engine = create_engine(database_url)
    ReferenceRow.__table__.create(engine, checkfirst=True)
    sessions = sessionmaker(engine, expire_on_commit=False)
    app = Flask("reference")

    @app.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @app.get("/ref/list")
    def ref_list():
        with sessions() as s:
            rows = s.scalars(select(Initiative).where(Initiative.status == "published")
                             .order_by(Initiative.published_at.desc()).limit(20)).all()
            return jsonify(items=[_summary(r) for r in rows])

    @app.get("/ref/item/<uuid:item_id>")
    def ref_item(item_id: uuid.UUID):
        with sessions() as s:
            row = s.get(Initiative, item_id)
            if row is None:
                abort(404)
            return jsonify(_summary(row) | {
                "description": row.description,
                "start_date": row.start_date.isoformat() if row.start_date else None,
                "end_date": row.end_date.isoformat() if row.end_date else None})

    @app.post("/ref/insert")
    def ref_insert():
        data = request.get_json(silent=True) or {}
        now = datetime.now(UTC)
        with sessions() as s:
            row = ReferenceRow(title=str(data.get("title") or "untitled")[:500],
                               body=data.get("body"), created_at=now, updated_at=now)
            s.add(row)
            s.commit()
            return jsonify(id=str(row.id)), 201

    @app.post("/ref/update/<uuid:item_id>")
    def ref_update(item_id: uuid.UUID):
        data = request.get_json(silent=True) or {}
        with sessions() as s:
            done = s.execute(update(ReferenceRow).where(ReferenceRow.id == item_id).values(
                status=str(data.get("status") or "submitted")[:30],
                updated_at=datetime.now(UTC)))
            s.commit()
            if done.rowcount == 0:
                abort(404)
            return jsonify(id=str(item_id))

    @app.post("/ref/transition/<uuid:item_id>")
    def ref_transition(item_id: uuid.UUID):
        data = request.get_json(silent=True) or {}
        with sessions() as s:
            done = s.execute(update(Initiative).where(Initiative.id == item_id).values(
                status=str(data.get("status") or "published")[:30],
                version=Initiative.version + 1, updated_at=datetime.now(UTC)))
            s.commit()
            if done.rowcount == 0:
                abort(404)
            return jsonify(id=str(item_id))

    def queue_rows() -> tuple[int | None, list]:
        with sessions() as s:
            waiting = Initiative.status == "submitted"
            rows = s.execute(select(Initiative.id, Initiative.title, Initiative.submitted_at)
                             .where(waiting).order_by(Initiative.submitted_at).limit(50)).all()
            total = s.scalar(select(func.count()).select_from(Initiative).where(waiting))
        return total, rows

    @app.get("/ref/queue")
    def ref_queue():
        total, rows = queue_rows()
        return jsonify(total=total, items=[
            {"id": str(r.id), "title": r.title, "submitted_at": r.submitted_at.isoformat()
             if r.submitted_at else None} for r in rows])

    @app.get("/ref/queue_page")
    def ref_queue_page():
        total, rows = queue_rows()
        return render_template_string(QUEUE_PAGE, total=total, rows=rows)

    @app.get("/ref/diff/<uuid:item_id>")
    def ref_diff(item_id: uuid.UUID):
        numbers = (request.args.get("from", 1, type=int), request.args.get("to", 2, type=int))
        with sessions() as s:
            found: dict[int, dict] = dict(s.execute(text(
                "SELECT number, content FROM initiative_versions WHERE initiative_id = :i "
                "AND number IN (:a, :b)"), {"i": item_id, "a": numbers[0], "b": numbers[1]}
            ).tuples().all())
        if len(found) != len(set(numbers)):
            abort(404)
        before, after = found[numbers[0]], found[numbers[1]]
        return jsonify(fields=[{"field": k, "before": before.get(k), "after": after.get(k)}
                               for k in sorted(set(before) | set(after))
                               if before.get(k) != after.get(k)])

    return app


def main() -> None:
    """Serve the reference with waitress, as the product's ``serve`` does."""
    from waitress.server import create_server

    from shared.cli import serve_app

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5099)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    # the product's thread count, read from its serve_app so the two cannot drift apart
    threads = inspect.signature(serve_app).parameters["threads"].default
    server = create_server(create_app(args.database_url), host=args.host, port=args.port,
                           threads=threads, ident="bench-reference")
    signal.signal(signal.SIGTERM, lambda *_: server.close())
    try:
        server.run()
    except (KeyboardInterrupt, OSError):
        pass


if __name__ == "__main__":
    main()
