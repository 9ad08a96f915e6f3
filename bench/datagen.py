"""Synthetic initiatives drawn from the real file's distributions, and a bulk loader.

``generate(n, seed=1)`` yields initiative records (plain dicts, see :func:`generate`);
``load_registry(url, n)`` writes n PUBLISHED initiatives with their organisations, partners,
SDG goals and targets, countries, tagged and covered M49 regions, deliverables, resources and
search documents straight into a registry database migrated to head (PostgreSQL: ``COPY``;
SQLite: ``executemany``), bypassing the API (no timeline, no outbox rows).

Distributions come from the UN Ocean Conference commitments file
(``../shared/data/ocean-commitments/ocean_commitments.jsonl`` when present, else the sample
``data/sample/ocean_commitments_sample.jsonl``): the lists of SDG goals, SDG 14 targets and
countries of real records (resampled whole, so co-occurrence is kept, including the share with
none), the entity types (stakeholder groups), title lengths in words, the number of
deliverables and resources, resource types. Title words are drawn from the real titles'
word frequencies; descriptions are the sentences of a real description, reshuffled, so
term frequencies match the file ("ocean" in about half of the records, "coral" in about one
in ten). The file has almost no Chinese text, so
``ZH_SHARE`` (8 %) of the records get Simplified Chinese titles and descriptions drawn from a
weighted vocabulary in which 海洋 (ocean) is as common as "ocean" is in English text and
珊瑚 (coral) as rare as "coral".

Keep in sync with the registry schema (``migrations/registry``): every derived column
(``initiatives.search_document``, ``initiative_covered_regions``) is written here too.

``load_review(url, n)`` (issue 8) writes the same n published initiatives with five approved
versions each (``initiative_versions``, versions 2.. from approved ``initiative_revisions``),
their timeline (``activities``) and a review queue around them (submitted initiatives,
submitted revisions, revisions sent back, declared completions, a share assigned to
reviewers): see :class:`ReviewShape`.

``load_progress(url, n)`` (issue 9) writes n initiatives with 3 x n progress reports
(``progress_reports``; the initiatives' progress columns kept as the product keeps them):
see :class:`ProgressShape`.

    .venv/bin/python bench/datagen.py DATABASE_URL N [--seed 1] [--review | --progress]
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import json
import random
import re
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _p in (ROOT / "services", ROOT):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from registry import reference as registry_reference  # noqa: E402
from registry.initiatives.search import tokens as search_tokens  # noqa: E402
from shared import reference  # noqa: E402

FULL_FILE = ROOT.parent / "shared" / "data" / "ocean-commitments" / "ocean_commitments.jsonl"
SAMPLE_FILE = ROOT / "data" / "sample" / "ocean_commitments_sample.jsonl"
#: Share of records written in Simplified Chinese.
ZH_SHARE = 0.08
#: Share of records without countries that tag an M49 region instead.
REGION_TAG_SHARE = 0.3
_REGION_TAGS = ["009", "054", "057", "061", "419", "029", "142", "035", "150", "002", "001"]
SOURCE = "bench-datagen"
SAMPLE_SIZE = 1000

# (word, weight): weights give the share of Chinese records containing the word roughly
# like the English file (海洋 ~ "ocean" in half the records, 珊瑚 ~ "coral" in one in ten).
_ZH_WORDS = [
    ("海洋", 40), ("保护", 30), ("可持续", 25), ("渔业", 15), ("沿海", 12), ("社区", 15),
    ("生态系统", 12), ("塑料", 8), ("污染", 10), ("气候变化", 10), ("海洋保护区", 6),
    ("珊瑚", 3), ("珊瑚礁", 2), ("红树林", 3), ("科学", 8), ("研究", 10), ("能力建设", 6),
    ("合作", 12), ("伙伴关系", 8), ("政府", 8), ("项目", 14), ("管理", 12), ("监测", 6),
    ("数据", 6), ("教育", 5), ("青年", 4), ("妇女", 3), ("岛屿", 4), ("小岛屿发展中国家", 2),
    ("蓝色经济", 5), ("资源", 8), ("发展", 12), ("国际", 6), ("区域", 6), ("技术", 6),
    ("融资", 4), ("减少", 8), ("提高", 8), ("意识", 5), ("和", 30), ("的", 60), ("在", 20),
    ("通过", 10), ("促进", 8), ("支持", 8), ("实施", 8), ("计划", 8), ("目标", 6),
]


@dataclass
class LoadInfo:
    """What :func:`load_registry` loaded: samples (up to 1000 each) of the initiative ids,
    public ids and organisation ids, and the seconds it took."""

    initiative_ids: list[uuid.UUID] = field(default_factory=list)
    public_ids: list[str] = field(default_factory=list)
    organization_ids: list[uuid.UUID] = field(default_factory=list)
    seconds: float = 0.0
    count: int = 0


class _Weighted:
    """Draw from (value, weight) pairs with cumulative weights (fast repeated draws)."""

    def __init__(self, counter: Counter | list[tuple[Any, float]]):
        items = list(counter.items()) if isinstance(counter, Counter) else list(counter)
        self.values = [v for v, _ in items]
        self.cum = list(itertools.accumulate(w for _, w in items))

    def draw(self, rng: random.Random, k: int = 1) -> list:
        return rng.choices(self.values, cum_weights=self.cum, k=k)

    def one(self, rng: random.Random):
        return self.values[bisect.bisect(self.cum, rng.random() * self.cum[-1])]


@dataclass
class _Model:
    goal_lists: list[list[int]]
    target_lists: list[list[str]]
    country_lists: list[list[str]]
    title_lengths: list[int]
    description_lengths: list[int]
    deliverable_counts: list[int]
    resource_types: list[list[str]]
    groups: _Weighted
    title_words: _Weighted
    sentences: list[str]
    description_sentences: list[list[str]]
    deliverable_texts: list[str]
    lead_names: list[str]
    zh_words: _Weighted


@cache
def _model() -> _Model:
    path = FULL_FILE if FULL_FILE.exists() else SAMPLE_FILE
    with path.open(encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh if line.strip()]
    resource_codes = {label: code for code, label in registry_reference.RESOURCE_TYPES.items()}
    goal_lists, target_lists, country_lists = [], [], []
    title_words: Counter = Counter()
    sentences: list[str] = []
    description_sentences: list[list[str]] = []
    deliverables: list[str] = []
    groups: Counter = Counter()
    for r in records:
        targets = [t for t in r.get("sdg14_targets") or [] if t in reference.targets()]
        goals = sorted({g for g in r.get("sdgs") or [] if isinstance(g, int) and 1 <= g <= 17}
                       | {reference.goal_of_target(t) for t in targets})
        goal_lists.append(goals)
        target_lists.append(targets)
        codes = []
        for name in r.get("countries") or []:
            country = registry_reference.country_by_name(str(name))
            if country and country.iso_alpha3 not in codes:
                codes.append(country.iso_alpha3)
        country_lists.append(codes)
        title_words.update(re.findall(r"\S+", r.get("title") or ""))
        own = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", r.get("description") or "")
               if s.strip()]
        sentences.extend(own)
        if own:
            description_sentences.append(own)
        deliverables.extend((d.get("description") or "")[:400] for d in r.get("deliverables")
                            or [] if isinstance(d, dict) and d.get("description"))
        for t in r.get("entity_types") or ["Other relevant actor"]:
            groups[registry_reference.ENTITY_TYPE_TO_STAKEHOLDER_GROUP.get(t, "other")] += 1
    return _Model(
        goal_lists=goal_lists, target_lists=target_lists, country_lists=country_lists,
        title_lengths=[max(2, len((r.get("title") or "").split())) for r in records],
        description_lengths=[len(r.get("description") or "") for r in records],
        deliverable_counts=[len(r.get("deliverables") or []) for r in records],
        resource_types=[[resource_codes.get(x.get("type") or "", "other")
                         for x in r.get("resources") or [] if isinstance(x, dict)]
                        for r in records],
        groups=_Weighted(groups), title_words=_Weighted(title_words),
        sentences=sentences or ["Protect the ocean."],
        description_sentences=description_sentences or [["Protect the ocean."]],
        lead_names=sorted({(r.get("lead_entity") or "").strip()[:200] for r in records}
                          - {""}) or ["Ocean Alliance"],
        deliverable_texts=deliverables or
        ["Report on progress."], zh_words=_Weighted(_ZH_WORDS))


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _zh_text(m: _Model, rng: random.Random, words: int) -> str:
    return "".join(m.zh_words.draw(rng, words))


def _description(m: _Model, rng: random.Random) -> tuple[str, list[str]]:
    """The sentences of one real description, reshuffled (keeps the per-record co-occurrence
    of terms; drawing sentences from the whole file would spread "coral" over many more),
    and its search tokens (the same set whatever the order: computed once per source)."""
    index = rng.randrange(len(m.description_sentences))
    sentences = list(m.description_sentences[index])
    rng.shuffle(sentences)
    return " ".join(sentences), _description_tokens(index)


@cache
def _description_tokens(index: int) -> list[str]:
    return search_tokens(" ".join(_model().description_sentences[index]))


def organization_name(i: int, rng: random.Random) -> str:
    """A unique synthetic organisation name: a real lead entity's name and a number (so words
    like "coral" occur in names as often as in the file's lead entities)."""
    return f"{rng.choice(_model().lead_names)} {i}"


def generate_organizations(count: int, *, seed: int = 1) -> list[dict[str, Any]]:
    """``count`` organisations: id, name, normalized_name, stakeholder_group, country."""
    rng = random.Random(f"org-{seed}")  # noqa: S311 - reproducible synthetic data
    m = _model()
    countries = list(reference.countries())
    out = []
    for i in range(count):
        name = organization_name(i, rng)
        out.append({"id": _uuid(rng), "name": name,
                    "normalized_name": registry_reference.normalize_name(name),
                    "stakeholder_group": m.groups.one(rng),
                    "country": rng.choice(countries) if rng.random() < 0.7 else None})
    return out


def organization_count(n: int) -> int:
    """How many organisations n initiatives share (the real file: about one per record for
    leads and partners together, many repeated)."""
    return max(50, n // 3)


def generate(n: int, *, seed: int = 1, organization_ids: list[uuid.UUID] | None = None,
             start: datetime | None = None) -> Iterator[dict[str, Any]]:
    """Yield ``n`` synthetic published initiatives (deterministic for a ``seed``).

    Each record: ``id`` (UUID), ``public_id`` (``PR-2025-<number>``, numbers from
    ``(seed - 1) * 10**7 + 1``), ``title``, ``description``,
    ``lang`` (``en``/``zh``), ``lead_organization_id`` (drawn from ``organization_ids``,
    default those of :func:`generate_organizations`), ``partners`` [(organization id, role)],
    ``sdg_goals`` [int], ``sdg_targets`` [str], ``countries`` [alpha-3], ``regions``
    [M49 tagged], ``covered_regions`` [M49 derived by ``shared.reference.region_codes_for``],
    ``start_date``/``end_date`` (date), ``deliverables`` [(description, due date)],
    ``resources`` [(type, details, amount_usd)], ``published_at``/``updated_at`` (aware UTC,
    newest first spread over 3 years before ``start``), ``search_document``.
    """
    m = _model()
    rng = random.Random(seed)  # noqa: S311 - reproducible synthetic data
    if organization_ids is None:
        organization_ids = [o["id"] for o in generate_organizations(organization_count(n),
                                                                    seed=seed)]
    # a few organisations lead many initiatives (governments), most lead one or two
    org_weights = list(itertools.accumulate(1.0 / (i + 1) ** 0.8
                                            for i in range(len(organization_ids))))
    start = start or datetime(2026, 1, 1, tzinfo=UTC)
    span = 3 * 365 * 24 * 3600
    for i in range(n):
        zh = rng.random() < ZH_SHARE
        if zh:
            title = _zh_text(m, rng, rng.randint(4, 12))
            description = "。".join(_zh_text(m, rng, rng.randint(8, 25))
                                   for _ in range(rng.randint(2, 12))) + "。"
            description_tokens = search_tokens(description)
        else:
            title = " ".join(m.title_words.draw(rng, rng.choice(m.title_lengths)))[:500]
            description, description_tokens = _description(m, rng)
            if len(description) > 20_000:
                description = description[:20_000]
                description_tokens = search_tokens(description)
        idx = rng.randrange(len(m.goal_lists))
        goals, targets = m.goal_lists[idx], m.target_lists[idx]
        countries = rng.choice(m.country_lists)
        regions = ([rng.choice(_REGION_TAGS)]
                   if not countries and rng.random() < REGION_TAG_SHARE else [])
        lead = rng.choices(organization_ids, cum_weights=org_weights)[0]
        partners = []
        for org in rng.sample(organization_ids, min(len(organization_ids),
                                                    rng.choice((0, 0, 1, 1, 2, 3, 5)))):
            if org != lead:
                partners.append((org, rng.choice(("partner", "partner", "implementing",
                                                  "funding"))))
        start_date = date(2017, 1, 1) + timedelta(days=rng.randrange(3000))
        end_date = start_date + timedelta(days=rng.randrange(30, 3000))
        deliverables = [(rng.choice(m.deliverable_texts),
                         start_date + timedelta(days=rng.randrange(0, 2000)))
                        for _ in range(rng.choice(m.deliverable_counts))]
        resources = []
        for rtype in rng.choice(m.resource_types):
            amount = round(rng.lognormvariate(12, 2), 2) if rtype == "financing" else None
            resources.append((rtype, rng.choice(m.sentences)[:500], amount))
        published = start - timedelta(seconds=rng.randrange(span))
        yield {
            "id": _uuid(rng), "public_id": f"PR-2025-{_offset_for(seed) + i + 1:05d}",
            "title": title,
            "description": description, "lang": "zh" if zh else "en",
            "lead_organization_id": lead, "partners": partners, "sdg_goals": goals,
            "sdg_targets": targets, "countries": countries, "regions": regions,
            "covered_regions": sorted(reference.region_codes_for(countries, regions)),
            "start_date": start_date, "end_date": end_date, "deliverables": deliverables,
            "resources": resources, "published_at": published, "updated_at": published,
            # = search_document(title, description): the same distinct tokens
            "search_document": " ".join(dict.fromkeys(search_tokens(title)
                                                      + description_tokens)),
        }


_TABLES: dict[str, tuple[str, ...]] = {
    "organizations": ("id", "name", "normalized_name", "stakeholder_group", "country",
                      "verification_status", "verified_at", "created_at", "updated_at"),
    "initiatives": ("id", "public_id", "status", "version", "title", "description",
                    "lead_organization_id", "start_date", "end_date", "source", "source_ref",
                    "created_at", "updated_at", "submitted_at", "published_at",
                    "search_document"),
    "initiative_partners": ("id", "initiative_id", "organization_id", "role", "position"),
    "initiative_goals": ("initiative_id", "goal"),
    "initiative_targets": ("initiative_id", "target_code"),
    "initiative_countries": ("initiative_id", "country"),
    "initiative_regions": ("initiative_id", "region"),
    "initiative_covered_regions": ("initiative_id", "region"),
    "deliverables": ("id", "initiative_id", "position", "description", "due_date"),
    "resources": ("id", "initiative_id", "position", "type", "details", "amount_usd"),
}


def _rows(record: dict[str, Any], rng: random.Random, seq: int) -> dict[str, list[tuple]]:
    iid = record["id"]
    at = record["published_at"]
    return {
        "initiatives": [(iid, record["public_id"], "published", 1, record["title"],
                         record["description"], record["lead_organization_id"],
                         record["start_date"], record["end_date"], SOURCE,
                         f"#Gen{seq}", at, at, at, at, record["search_document"])],
        "initiative_partners": [(_uuid(rng), iid, org, role, pos)
                                for pos, (org, role) in enumerate(record["partners"])],
        "initiative_goals": [(iid, g) for g in record["sdg_goals"]],
        "initiative_targets": [(iid, t) for t in record["sdg_targets"]],
        "initiative_countries": [(iid, c) for c in record["countries"]],
        "initiative_regions": [(iid, r) for r in record["regions"]],
        "initiative_covered_regions": [(iid, r) for r in record["covered_regions"]],
        "deliverables": [(_uuid(rng), iid, pos, text, due)
                         for pos, (text, due) in enumerate(record["deliverables"])],
        "resources": [(_uuid(rng), iid, pos, rtype, details, amount)
                      for pos, (rtype, details, amount) in enumerate(record["resources"])],
    }


def _batches(n: int, seed: int, orgs: list[dict[str, Any]], info: LoadInfo,
             batch: int = 5000, offset: int = 0,
             review: ReviewData | ProgressData | None = None
             ) -> Iterator[dict[str, list[tuple]]]:
    """Rows per table, ``batch`` initiatives at a time; fills the samples of ``info``.

    With ``review`` (:func:`load_review`, or :func:`load_progress`'s :class:`ProgressData`),
    ``n`` counts the published initiatives only: the extra records (``review.extra_records``)
    follow them and every record gets the extra rows of ``review.rows``."""
    rng = random.Random(f"rows-{seed}")  # noqa: S311 - reproducible synthetic data
    sample_every = max(1, n // SAMPLE_SIZE)
    total = n + (review.extra_records if review else 0)
    out: dict[str, list[tuple]] = {t: [] for t in _TABLES if t != "organizations"}
    if review:
        out |= {t: [] for t in review.tables}
    for i, record in enumerate(generate(total, seed=seed,
                                        organization_ids=[o["id"] for o in orgs])):
        if i < n and i % sample_every == 0 and len(info.initiative_ids) < SAMPLE_SIZE:
            info.initiative_ids.append(record["id"])
            info.public_ids.append(record["public_id"])
        rows = _rows(record, rng, offset + i)
        if review:
            rows = review.rows(i, record, rows, rng)
        for table, table_rows in rows.items():
            out[table].extend(table_rows)
        if (i + 1) % batch == 0:
            yield out
            out = {t: [] for t in out}
    yield out


def _progress(enabled: bool, done: int, n: int, started: float) -> None:
    if enabled:
        print(f"  {done:,}/{n:,} initiatives ({time.perf_counter() - started:.1f} s)",
              file=sys.stderr, flush=True)


def load_registry(database_url: str, n: int, *, seed: int = 1,
                  progress: bool = False) -> LoadInfo:
    """Bulk-load ``n`` published initiatives (see :func:`generate`) into a registry database
    migrated to head; returns a :class:`LoadInfo`. PostgreSQL: ``COPY`` then ``ANALYZE``;
    SQLite (``sqlite:///path``): ``executemany`` (the FTS5 triggers index the documents).

    Loading twice with the same seed collides on ids; use another seed to add rows.
    """
    started = time.perf_counter()
    info = LoadInfo(count=n)
    orgs = generate_organizations(organization_count(n), seed=seed)
    info.organization_ids = [o["id"] for o in orgs[:SAMPLE_SIZE]]
    now = datetime.now(UTC)
    # the registry's organisations as the secretariat has verified them (issue 7: only a
    # verified organisation's initiatives are published, so approve has work to do)
    org_rows = [(o["id"], o["name"], o["normalized_name"], o["stakeholder_group"],
                 o["country"], "verified", now, now, now) for o in orgs]
    if database_url.startswith("sqlite"):
        _load_sqlite(database_url, n, seed, org_rows, orgs, info, progress, started)
    else:
        _load_postgresql(database_url, n, seed, org_rows, orgs, info, progress, started)
    info.seconds = time.perf_counter() - started
    return info


def _offset_for(seed: int) -> int:
    return (seed - 1) * 10_000_000


def _load_postgresql(url, n, seed, org_rows, orgs, info, progress, started,
                     review: ReviewData | ProgressData | None = None) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    sa_url = make_url(url)
    conninfo = sa_url.set(drivername="postgresql").render_as_string(hide_password=False)
    columns = dict(_TABLES)
    if review:
        columns = review.columns(columns)
    with psycopg.connect(conninfo) as conn:
        with conn.cursor() as cur:
            present = _present_columns(cur, columns)
            # secondary indexes are built once after the load (much faster than per row)
            cur.execute(
                "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.schemaname = "
                "current_schema() AND i.tablename = ANY(%s) AND NOT EXISTS (SELECT 1 FROM "
                "pg_constraint c WHERE c.conname = i.indexname)", (list(columns),))
            indexes = cur.fetchall()
            # the rows are consistent by construction: skip the per-row foreign-key triggers
            # (needs superuser, as the test and benchmark servers give; else they run)
            try:
                with conn.transaction():
                    cur.execute("SET LOCAL session_replication_role = replica")
            except psycopg.errors.InsufficientPrivilege:
                pass
            for name, _definition in indexes:
                cur.execute(f'DROP INDEX "{name}"')
            if review:
                for table, people in review.people_rows().items():
                    _copy(cur, table, people, columns[table], present[table])
            _copy(cur, "organizations", org_rows, columns["organizations"],
                  present["organizations"])
            done = 0
            for rows in _batches(n, seed, orgs, info, offset=_offset_for(seed), review=review):
                for table, table_rows in rows.items():
                    _copy(cur, table, table_rows, columns[table], present[table])
                done += len(rows["initiatives"])
                _progress(progress, done, n, started)
            cur.execute("INSERT INTO public_id_counters (year, last_number) VALUES (2025, %s) "
                        "ON CONFLICT (year) DO UPDATE SET last_number = GREATEST("
                        "public_id_counters.last_number, EXCLUDED.last_number)",
                        (_offset_for(seed) + n,))
            loaded = time.perf_counter()
            cur.execute("SET maintenance_work_mem = '256MB'")
            for _name, definition in indexes:
                cur.execute(definition)
            indexed = time.perf_counter()
        conn.commit()
        conn.autocommit = True
        for table in columns:
            conn.execute(f"ANALYZE {table}")
        if progress:
            print(f"  rows {loaded - started:.1f} s, indexes {indexed - loaded:.1f} s, "
                  f"analyse {time.perf_counter() - indexed:.1f} s", file=sys.stderr)


def _present_columns(cur, columns: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Of the columns datagen writes per table, those the migrated schema has.

    Raises ``RuntimeError`` naming a table that is missing, or a NOT NULL column without a
    default that datagen does not write (the schema moved on: update datagen)."""
    cur.execute("SELECT table_name, column_name, is_nullable, column_default IS NOT NULL "
                "OR is_identity = 'YES' FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = ANY(%s)",
                (list(columns),))
    found: dict[str, dict[str, bool]] = {}
    for table, column, nullable, has_default in cur.fetchall():
        found.setdefault(table, {})[column] = nullable == "YES" or bool(has_default)
    out = {}
    for table, wanted in columns.items():
        if table not in found:
            raise RuntimeError(f"datagen: table {table} is not in the migrated schema")
        lacking = [c for c, optional in found[table].items() if not optional and c not in wanted]
        if lacking:
            raise RuntimeError(f"datagen: {table}.{', '.join(lacking)} (NOT NULL, no default) "
                               "is not written by bench/datagen.py")
        out[table] = tuple(c for c in wanted if c in found[table])
    return out


def _copy(cur, table: str, rows: list[tuple], columns: tuple[str, ...] | None = None,
          present: tuple[str, ...] | None = None) -> None:
    """``COPY`` ``rows`` (tuples in the order of ``columns``, default ``_TABLES[table]``)
    into ``table``, keeping only the ``present`` columns (default all)."""
    if not rows:
        return
    columns = columns or _TABLES[table]
    present = columns if present is None else present
    keep = None if present == columns else [columns.index(c) for c in present]
    with cur.copy(f"COPY {table} ({', '.join(present)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row if keep is None else [row[k] for k in keep])


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex  # SQLAlchemy's Uuid on SQLite: 32 hex digits
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _load_sqlite(url, n, seed, org_rows, orgs, info, progress, started) -> None:
    from sqlalchemy.engine import make_url

    path = make_url(url).database
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA foreign_keys=ON")

        def insert(table: str, rows: list[tuple]) -> None:
            if rows:
                cols = _TABLES[table]
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' for _ in cols)})",
                    [tuple(_sqlite_value(v) for v in row) for row in rows])

        insert("organizations", org_rows)
        done = 0
        for rows in _batches(n, seed, orgs, info, offset=_offset_for(seed)):
            for table, table_rows in rows.items():
                insert(table, table_rows)
            done += len(rows["initiatives"])
            _progress(progress, done, n, started)
        conn.execute("INSERT INTO public_id_counters (year, last_number) VALUES (2025, ?) "
                     "ON CONFLICT (year) DO UPDATE SET last_number = MAX(last_number, "
                     "excluded.last_number)", (_offset_for(seed) + n,))
        conn.commit()
        conn.execute("ANALYZE")
    finally:
        conn.close()


# -- the review desk (issue 8): versions, revisions, the queue, the timeline ------------------
#: Tables of issue 8 (migration 0008) datagen writes with :func:`load_review`; each row is a
#: tuple in this order. Columns the migrated schema lacks are left out at load time.
REVIEW_TABLES: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "password_hash", "display_name", "locale", "email_verified_at",
              "failed_sign_ins", "created_at", "updated_at"),
    "user_staff_roles": ("user_id", "role", "granted_at"),
    "initiative_versions": ("initiative_id", "number", "content", "approved_at",
                            "approved_by_name", "approved_by_email", "revision_id",
                            "changed_fields"),
    "initiative_revisions": ("id", "initiative_id", "number", "status", "content",
                             "base_version", "version", "owner_organization_id",
                             "assigned_reviewer_id", "created_by_user_id", "created_at",
                             "updated_at", "submitted_at", "decided_at"),
    "activities": ("id", "record_type", "record_id", "revision_number", "kind", "action",
                   "from_status", "to_status", "body", "visibility", "actor_role",
                   "actor_user_id", "actor_email", "actor_name", "actor_organization_id",
                   "changes", "created_at"),
}
#: Columns issue 8 adds to tables datagen already writes (appended to their tuples).
REVIEW_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "initiatives": ("owner_organization_id", "approved_version", "assigned_reviewer_id",
                    "completion_declared_at"),
    "deliverables": ("status",),
}
#: Initiatives' change counter after submit, approve and four approved revisions.
_PUBLISHED_VERSION = 7


@dataclass(frozen=True)
class ReviewShape:
    """What :func:`load_review` puts around the published initiatives.

    ``versions``: approved versions of each published initiative (1 at approval, one more per
    approved revision); ``submitted``: extra initiatives waiting in the queue (status
    ``submitted``, never approved), submitted over the last ``queue_days`` days;
    ``revisions_submitted``: published initiatives with an open revision in the queue;
    ``revisions_changes_requested``: open revisions sent back to their owner;
    ``completion_declared``: published initiatives whose owner declared completion;
    ``assigned_share``: share of queue items assigned to one of ``reviewers`` reviewers.
    """

    versions: int = 5
    submitted: int = 3000
    revisions_submitted: int = 1500
    revisions_changes_requested: int = 300
    completion_declared: int = 200
    assigned_share: float = 0.3
    reviewers: int = 8
    queue_days: int = 30

    @classmethod
    def scaled(cls, n: int) -> ReviewShape:
        """The default shape for 100,000 published initiatives, scaled to ``n`` (at least a
        few dozen of each kind, never more than a fifth of ``n`` for revisions)."""
        f = n / 100_000

        def size(base: int, low: int) -> int:
            return min(max(round(base * f), low), max(n // 5, 1))

        return cls(submitted=max(round(3000 * f), 60), revisions_submitted=size(1500, 40),
                   revisions_changes_requested=size(300, 10),
                   completion_declared=size(200, 10))


@dataclass
class ReviewLoadInfo(LoadInfo):
    """:class:`LoadInfo` plus the review desk's ids: the submitted initiatives in the queue
    (oldest first), the initiatives with a submitted revision (and its number), the
    reviewers' user ids and e-mails, and the shape loaded."""

    submitted_ids: list[uuid.UUID] = field(default_factory=list)
    revision_initiative_ids: list[uuid.UUID] = field(default_factory=list)
    revision_number: int = 0
    reviewer_ids: list[uuid.UUID] = field(default_factory=list)
    reviewer_emails: list[str] = field(default_factory=list)
    shape: dict = field(default_factory=dict)


def content_of_record(record: dict[str, Any], orgs: dict[uuid.UUID, Any],
                      deliverable_ids: list[uuid.UUID], statuses: list[str]) -> dict:
    """The content shape of issue 8 of a generated record, JSON-ready, made by the product's
    own ``registry.initiatives.versions.content_of`` (``orgs``: organisation id -> an object
    with ``id``, ``name``, ``acronym``, ``stakeholder_group``, ``country``)."""
    from types import SimpleNamespace

    from registry.initiatives.versions import content_of

    order = _target_order()
    initiative = SimpleNamespace(
        title=record["title"], description=record["description"],
        lead_organization=orgs.get(record["lead_organization_id"]),
        partners=[SimpleNamespace(organization=orgs[o], role=role)
                  for o, role in record["partners"]],
        goal_codes=sorted(record["sdg_goals"]),
        target_codes=sorted(record["sdg_targets"], key=lambda c: order.get(c, 10**6)),
        country_codes=sorted(record["countries"]), region_codes=sorted(record["regions"]),
        start_date=record["start_date"], end_date=record["end_date"],
        deliverables=[SimpleNamespace(id=did, description=text, due_date=due, status=st)
                      for did, (text, due), st in zip(deliverable_ids, record["deliverables"],
                                                      statuses, strict=True)],
        resources=[SimpleNamespace(type=t, details=d, amount_usd=a)
                   for t, d, a in record["resources"]],
        contact_email=None)
    return content_of(initiative)


@cache
def _target_order() -> dict[str, int]:
    return {code: i for i, code in enumerate(reference.targets())}


def version_contents(current: dict, versions: int) -> list[tuple[dict, list[str]]]:
    """``versions`` successive approved contents ending with ``current``, each with the
    fields that changed from the one before (the first: ``[]``). Going back from the newest:
    the first deliverable was ``planned`` (status), a target or country was added, the
    description gained its last sentence, the end date moved by 180 days, the title gained
    its last word — so a diff from 1 to 5 has fields and list items changed."""
    steps = [("deliverables", _deliverable_planned), ("sdg_targets", _drop_last_item),
             ("description", _drop_last_sentence), ("end_date", _earlier_end),
             ("title", _drop_last_word)]
    out: list[tuple[dict, list[str]]] = [(current, [])]
    for k in range(versions - 1):
        field_name, undo = steps[k % len(steps)]
        newer = out[0][0]
        older = dict(newer)
        changed = undo(older, field_name)
        out[0] = (newer, [changed] if changed else [])
        out.insert(0, (older, []))
    return out


def _deliverable_planned(c: dict, _field: str) -> str | None:
    if not c["deliverables"]:
        return None
    first = dict(c["deliverables"][0]) | {"status": "planned"}
    c["deliverables"] = [first, *c["deliverables"][1:]]
    return "deliverables"


def _drop_last_item(c: dict, field_name: str) -> str | None:
    for name in (field_name, "countries", "sdg_goals"):
        if c[name]:
            c[name] = c[name][:-1]
            return name
    return None


def _drop_last_sentence(c: dict, _field: str) -> str | None:
    text = c["description"] or ""
    cut = max(text.rfind(". ", 0, len(text) - 2), text.rfind("。", 0, len(text) - 1))
    c["description"] = text[:cut + 1] if cut > 0 else text + " (draft)"
    return "description"


def _earlier_end(c: dict, _field: str) -> str:
    end = date.fromisoformat(c["end_date"]) - timedelta(days=180)
    c["end_date"] = max(end, date.fromisoformat(c["start_date"])).isoformat()
    return "end_date"


def _drop_last_word(c: dict, _field: str) -> str:
    words = c["title"].split()
    c["title"] = " ".join(words[:-1]) if len(words) > 1 else c["title"] + " (draft)"
    return "title"


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class ReviewData:
    """Rows of the review desk around the generated records (see :func:`load_review`).

    Record ``i`` < ``n`` is published with ``shape.versions`` approved versions (the first
    ``revisions_submitted`` of a spread-out selection also have a submitted revision, then
    ``revisions_changes_requested`` one sent back, then ``completion_declared`` are in that
    state); records from ``n`` on are submitted initiatives waiting in the queue.
    """

    def __init__(self, n: int, seed: int, shape: ReviewShape, orgs: list[dict[str, Any]],
                 info: ReviewLoadInfo, now: datetime):
        self.n, self.shape, self.info, self.now = n, shape, info, now
        from types import SimpleNamespace

        self.orgs = {o["id"]: SimpleNamespace(id=o["id"], name=o["name"], acronym=None,
                                              stakeholder_group=o["stakeholder_group"],
                                              country=o["country"]) for o in orgs}
        rng = random.Random(f"review-{seed}")  # noqa: S311 - reproducible synthetic data
        self.reviewers = [(_uuid(rng), f"reviewer{k + 1}@secretariat.example.org",
                           f"Reviewer {k + 1}") for k in range(shape.reviewers)]
        info.reviewer_ids = [r[0] for r in self.reviewers]
        info.reviewer_emails = [r[1] for r in self.reviewers]
        info.revision_number = shape.versions  # revisions 1..versions-1 were approved
        # which published records have an open revision or declared completion: every
        # step-th one, spread over the whole set (and so over the ages)
        special = shape.revisions_submitted + shape.revisions_changes_requested \
            + shape.completion_declared
        self.step = max(1, n // max(special, 1))
        info.shape = shape.__dict__ | {"published": n}

    @property
    def extra_records(self) -> int:
        """Records generated after the ``n`` published ones (the submitted initiatives)."""
        return self.shape.submitted

    @property
    def tables(self) -> dict[str, tuple[str, ...]]:
        """The tables this mode adds rows to, beyond ``_TABLES``."""
        return {t: c for t, c in REVIEW_TABLES.items()
                if t not in ("users", "user_staff_roles")}

    def columns(self, base: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Every table's column tuple in review mode."""
        out = {t: cols + REVIEW_EXTRA_COLUMNS.get(t, ()) for t, cols in base.items()}
        return out | REVIEW_TABLES

    def people_rows(self) -> dict[str, list[tuple]]:
        """The reviewers' accounts (no password: they sign in by no means here) and roles."""
        now = self.now
        return {"users": [(uid, email, None, name, "en", now, 0, now, now)
                          for uid, email, name in self.reviewers],
                "user_staff_roles": [(uid, "reviewer", now) for uid, _e, _n in self.reviewers]}

    def _special(self, i: int) -> str | None:
        if i % self.step:
            return None
        k = i // self.step
        s = self.shape
        if k < s.revisions_submitted:
            return "revision_submitted"
        k -= s.revisions_submitted
        if k < s.revisions_changes_requested:
            return "revision_changes_requested"
        k -= s.revisions_changes_requested
        if k < s.completion_declared:
            return "completion_declared"
        return None

    def _queue_time(self, rng: random.Random) -> datetime:
        """When a queue item was submitted: within ``queue_days`` before now, more of them
        recent (so a share is past the 5-working-day target)."""
        days = self.shape.queue_days * rng.random() ** 1.5
        return self.now - timedelta(days=days)

    def _assignee(self, rng: random.Random) -> uuid.UUID | None:
        if rng.random() < self.shape.assigned_share:
            return rng.choice(self.reviewers)[0]
        return None

    def rows(self, i: int, record: dict[str, Any], rows: dict[str, list[tuple]],
             rng: random.Random) -> dict[str, list[tuple]]:
        """``rows`` of record ``i`` (from ``_rows``) completed for the review desk."""
        iid, owner = record["id"], record["lead_organization_id"]
        deliverable_ids = [r[0] for r in rows["deliverables"]]
        statuses = [rng.choice(("in_progress", "achieved", "planned", "delayed"))
                    if k == 0 else rng.choice(("planned", "planned", "in_progress"))
                    for k in range(len(deliverable_ids))]
        out: dict[str, list[tuple]] = {t: [] for t in REVIEW_TABLES
                                       if t not in ("users", "user_staff_roles")}
        out["deliverables"] = [r + (st,) for r, st in zip(rows["deliverables"], statuses,
                                                          strict=True)]
        created = record["published_at"] - timedelta(days=rng.randint(11, 40))
        if i >= self.n:  # a submitted initiative in the queue: never approved
            submitted = self._queue_time(rng)
            created = submitted - timedelta(days=rng.randint(1, 20))
            initiative = list(rows["initiatives"][0])
            # public_id, status, version; created/updated/submitted/published
            initiative[1:4] = [None, "submitted", 3]
            initiative[11:15] = [created, submitted, submitted, None]
            out["initiatives"] = [(*initiative, owner, None, self._assignee(rng), None)]
            out["activities"] += [
                self._activity(rng, iid, "edit", "create", None, "draft", created, owner),
                self._activity(rng, iid, "transition", "submit", "draft", "submitted",
                               submitted, owner)]
            self.info.submitted_ids.append(iid)
            return rows | out
        special = self._special(i)
        contents = version_contents(content_of_record(record, self.orgs,
                                                      deliverable_ids, statuses),
                                    self.shape.versions)
        approved = record["published_at"]
        span = max((self.now - approved).total_seconds(), 3600 * 24)
        times = [approved + timedelta(seconds=span * (k / (len(contents) + 1)))
                 for k in range(len(contents))]
        reviewer = rng.choice(self.reviewers)
        status = "completion_declared" if special == "completion_declared" else "published"
        submitted = approved - timedelta(days=rng.randint(1, 10))
        initiative = list(rows["initiatives"][0])
        initiative[2:4] = [status, _PUBLISHED_VERSION]
        initiative[11:15] = [created, times[-1], submitted, approved]
        declared = assignee = None
        if special == "completion_declared":
            declared, assignee = self._queue_time(rng), self._assignee(rng)
            initiative[12] = declared
        out["initiatives"] = [(*initiative, owner, len(contents), assignee, declared)]
        out["activities"] += [
            self._activity(rng, iid, "edit", "create", None, "draft", created, owner),
            self._activity(rng, iid, "transition", "submit", "draft", "submitted", submitted,
                           owner),
            self._activity(rng, iid, "transition", "approve", "submitted", "published",
                           approved, None, reviewer)]
        for number, ((content, changed), at) in enumerate(zip(contents, times, strict=True),
                                                          start=1):
            body = _json(content)
            revision_id = None
            if number > 1:  # versions 2.. came from approved revisions 1..
                revision_id = _uuid(rng)
                opened = at - timedelta(days=rng.randint(2, 20))
                out["initiative_revisions"].append((
                    revision_id, iid, number - 1, "approved", body, number - 1, 3, owner,
                    None, None, opened, at, at - timedelta(days=1), at))
                out["activities"].append(self._activity(
                    rng, iid, "transition", "revision_approve", "published", "published", at,
                    None, reviewer, revision_number=number - 1))
            out["initiative_versions"].append((
                iid, number, body, at, reviewer[2], reviewer[1], revision_id, _json(changed)))
        if special in ("revision_submitted", "revision_changes_requested"):
            current = contents[-1][0]
            proposed = dict(current) | {
                "end_date": (date.fromisoformat(current["end_date"])
                             + timedelta(days=365)).isoformat(),
                "description": (current["description"] or "") + " The second phase extends "
                "the work to two more coastal provinces.",
                "deliverables": [*current["deliverables"], {
                    "id": None, "description": "Second-phase survey of restored sites",
                    "due_date": (date.fromisoformat(current["end_date"])
                                 + timedelta(days=300)).isoformat(), "status": "planned"}]}
            when = self._queue_time(rng)
            number = len(contents)
            rev_status = ("submitted" if special == "revision_submitted"
                          else "changes_requested")
            out["initiative_revisions"].append((
                _uuid(rng), iid, number, rev_status, _json(proposed), len(contents), 2, owner,
                self._assignee(rng) if rev_status == "submitted" else None, None,
                when - timedelta(days=2), when, when, None))
            out["activities"].append(self._activity(
                rng, iid, "transition", "revision_submit", "draft", "submitted", when, owner,
                revision_number=number))
            if rev_status == "submitted":
                self.info.revision_initiative_ids.append(iid)
        elif special == "completion_declared" and declared is not None:
            out["activities"].append(self._activity(
                rng, iid, "transition", "declare_completion", "published",
                "completion_declared", declared, owner, body="All deliverables were achieved."))
        return rows | out

    def _activity(self, rng: random.Random, iid: uuid.UUID, kind: str, action: str,
                  from_status: str | None, to_status: str | None, at: datetime,
                  owner: uuid.UUID | None, reviewer: tuple | None = None, *,
                  revision_number: int | None = None, body: str | None = None) -> tuple:
        public = action in ("revision_approve", "declare_completion")
        if reviewer:
            role, user_id, email, name, org = "reviewer", reviewer[0], reviewer[1], \
                reviewer[2], None
        else:
            role, user_id, email, name, org = "partner", None, None, None, owner
        return (_uuid(rng), "initiative", iid, revision_number, kind, action, from_status,
                to_status, body, "public" if public else "participants", role, user_id,
                email, name, org, None, at)


def load_review(database_url: str, n: int, *, seed: int = 1,
                shape: ReviewShape | None = None, progress: bool = False) -> ReviewLoadInfo:
    """Bulk-load the review desk's data (issue 8, "Benchmarks") into a PostgreSQL registry
    database migrated to head (``alembic upgrade head``): ``n`` PUBLISHED initiatives from
    :func:`generate`, each with ``shape.versions`` approved versions (``initiative_versions``,
    content shape of ``registry.initiatives.versions.content_of``; versions 2.. from approved
    ``initiative_revisions``) and its timeline in ``activities``; plus the queue of
    :class:`ReviewShape` (submitted initiatives, submitted revisions, revisions sent back,
    declared completions, a share assigned to the reviewers, who are ``users`` with the staff
    role ``reviewer``). ``COPY`` per table, indexes rebuilt, ``ANALYZE``.

    Returns a :class:`ReviewLoadInfo`. Raises ``RuntimeError`` when the schema lacks a
    table or has a NOT NULL column datagen does not write; ``ValueError`` for SQLite.
    """
    if database_url.startswith("sqlite"):
        raise ValueError("load_review writes PostgreSQL only (COPY)")
    shape = shape or ReviewShape.scaled(n)
    started = time.perf_counter()
    info = ReviewLoadInfo(count=n)
    orgs = generate_organizations(organization_count(n), seed=seed)
    info.organization_ids = [o["id"] for o in orgs[:SAMPLE_SIZE]]
    now = datetime.now(UTC)
    org_rows = [(o["id"], o["name"], o["normalized_name"], o["stakeholder_group"],
                 o["country"], "verified", now, now, now) for o in orgs]
    review = ReviewData(n, seed, shape, orgs, info, now)
    _load_postgresql(database_url, n, seed, org_rows, orgs, info, progress, started, review)
    info.seconds = time.perf_counter() - started
    return info


# -- progress reports (issue 9): the reporting traffic light at scale ------------------------
#: The moment the progress data is generated "as of" (no report is dated later); the
#: compliance benchmark runs the job at this moment, so the lights do not drift with the
#: calendar.
PROGRESS_AS_OF = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
#: Table of issue 9 (migration 0009) :func:`load_progress` writes; each row a tuple in this
#: order. Columns the migrated schema lacks are left out at load time.
PROGRESS_TABLES: dict[str, tuple[str, ...]] = {
    "progress_reports": ("id", "initiative_id", "number", "status", "period_start",
                         "period_end", "reported_on", "overall_status", "progress_percent",
                         "narrative_html", "resources_mobilised", "milestones", "links",
                         "source", "source_ref", "version", "owner_organization_id",
                         "created_by_user_id", "assigned_reviewer_id", "submitted_at",
                         "approved_at", "created_at", "updated_at"),
}
#: Columns :func:`load_progress` adds to the initiatives' tuples (issues 8 and 9).
PROGRESS_EXTRA_COLUMNS: dict[str, tuple[str, ...]] = {
    "initiatives": ("owner_organization_id", "completion_declared_at", "archived_at",
                    "progress_percent", "progress_reports_count", "last_progress_report_on"),
}
#: Overall statuses of generated reports and their weights (the real file's shares: 546 on
#: track, 137 completed, 13 off track, 12 financial issues, 9 empty, 2 cancelled of 720).
_OVERALL = [("on_track", 546), ("completed", 137), ("off_track", 13),
            ("financial_issues", 12), (None, 9), ("cancelled", 2)]


@dataclass(frozen=True)
class ProgressShape:
    """What :func:`load_progress` puts on the published initiatives.

    ``reports``: progress reports in all (default three per initiative); ``without_share``:
    initiatives that never reported (the real file: 79 %; here fewer, so the reports
    spread over most records); the others get a skewed number each (a few report often);
    ``open_share``: initiatives whose newest report is not approved yet (submitted, draft or
    sent back: the light ignores it); ``completion_declared_share`` (still lit) and
    ``archived_share`` (no light) of the initiatives.
    """

    reports: int = 300_000
    without_share: float = 0.25
    open_share: float = 0.08
    completion_declared_share: float = 0.03
    archived_share: float = 0.02

    @classmethod
    def scaled(cls, n: int) -> ProgressShape:
        """Three reports per initiative."""
        return cls(reports=3 * n)


@dataclass
class ProgressLoadInfo(LoadInfo):
    """:class:`LoadInfo` plus the progress data's figures: reports loaded (by status), the
    initiatives with at least one approved report, and the shape loaded."""

    reports: int = 0
    reports_by_status: dict = field(default_factory=dict)
    reporting_initiatives: int = 0
    as_of: str = PROGRESS_AS_OF.isoformat()
    shape: dict = field(default_factory=dict)


class ProgressData:
    """Rows of progress reports around the generated records (see :func:`load_progress`).

    The number of reports per initiative is drawn up front: one for each initiative that
    reports, the rest by a skewed (Pareto) weight over them, so the total is exact. Report dates are
    spread between the initiative's publication and :data:`PROGRESS_AS_OF` (sorted: number 1
    is the oldest); each approved report is approved 0-20 days after it was reported (never
    after the as-of moment). The initiative's ``progress_reports_count``,
    ``last_progress_report_on`` and ``progress_percent`` are those of its approved reports,
    as the product keeps them; its reporting status columns stay empty (the compliance job's
    first run computes every light).
    """

    extra_records = 0
    tables = PROGRESS_TABLES

    def __init__(self, n: int, seed: int, shape: ProgressShape, info: ProgressLoadInfo):
        self.n, self.shape, self.info = n, shape, info
        rng = random.Random(f"progress-{seed}")  # noqa: S311 - reproducible synthetic data
        weights = [0.0 if rng.random() < shape.without_share else rng.paretovariate(1.5)
                   for _ in range(n)]
        if not any(weights):
            weights[0] = 1.0
        # one report for each initiative that reports, the rest drawn by weight (exact total)
        reporting = [i for i, w in enumerate(weights) if w]
        first = reporting[:shape.reports]
        self.counts = [0] * n
        for i in first:
            self.counts[i] = 1
        for i in rng.choices(range(n), weights=weights, k=shape.reports - len(first)):
            self.counts[i] += 1
        self.sentences = _model().sentences
        self.overall = _Weighted(_OVERALL)
        info.shape = shape.__dict__ | {"initiatives": n}
        info.reports = shape.reports

    def columns(self, base: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        """Every table's column tuple in progress mode."""
        out = {t: cols + PROGRESS_EXTRA_COLUMNS.get(t, ()) for t, cols in base.items()}
        return out | PROGRESS_TABLES

    def people_rows(self) -> dict[str, list[tuple]]:
        """No accounts: the reports' authors are not needed by the compliance job."""
        return {}

    def rows(self, i: int, record: dict[str, Any], rows: dict[str, list[tuple]],
             rng: random.Random) -> dict[str, list[tuple]]:
        """``rows`` of record ``i`` (from ``_rows``) with its progress reports."""
        iid, owner = record["id"], record["lead_organization_id"]
        published: datetime = record["published_at"]
        as_of = PROGRESS_AS_OF
        k = self.counts[i]
        span = max((as_of - published).total_seconds(), 3600.0)
        times = sorted(published + timedelta(seconds=rng.random() * span) for _ in range(k))
        open_last = k > 0 and rng.random() < self.shape.open_share
        reports, percent = [], 0
        approved_count, last_on, last_percent = 0, None, None
        by_status = self.info.reports_by_status
        for number, at in enumerate(times, start=1):
            day = at.date()
            percent = min(100, percent + rng.randint(0, 30))
            status = "approved"
            if open_last and number == k:
                status = rng.choices(("submitted", "draft", "changes_requested"),
                                     weights=(6, 3, 1))[0]
            created = at - timedelta(days=rng.randint(0, 10))
            submitted_at = at if status != "draft" else None
            approved_at = None
            if status == "approved":
                approved_at = min(at + timedelta(days=rng.randint(0, 20),
                                                 hours=rng.randint(0, 23)),
                                  as_of - timedelta(hours=1))
                approved_count += 1
                last_on, last_percent = day, percent
            by_status[status] = by_status.get(status, 0) + 1
            reports.append((
                _uuid(rng), iid, number, status, None, None,
                day if status != "draft" else None, self.overall.one(rng), percent,
                f"<p>{rng.choice(self.sentences)[:400]}</p>", "[]", "[]", "[]",
                "api" if rng.random() < 0.1 else "form", None,
                3 if status == "approved" else 2, owner, None, None, submitted_at,
                approved_at, created, approved_at or submitted_at or created))
        if approved_count:
            self.info.reporting_initiatives += 1
        roll = rng.random()
        status, declared, archived = "published", None, None
        if roll < self.shape.completion_declared_share:
            status, declared = "completion_declared", as_of - timedelta(days=rng.randint(1, 60))
        elif roll < self.shape.completion_declared_share + self.shape.archived_share:
            status, archived = "archived", as_of - timedelta(days=rng.randint(1, 400))
        initiative = list(rows["initiatives"][0])
        initiative[2] = status
        out = {"initiatives": [(*initiative, owner, declared, archived, last_percent,
                                approved_count, last_on)],
               "progress_reports": reports}
        return rows | out


def load_progress(database_url: str, n: int, *, seed: int = 1,
                  shape: ProgressShape | None = None,
                  progress: bool = False) -> ProgressLoadInfo:
    """Bulk-load the reporting traffic light's data (issue 9, "Benchmarks": 100,000
    initiatives with 300,000 progress reports) into a PostgreSQL registry database migrated
    to head: ``n`` initiatives from :func:`generate` (published, a few declared complete or
    archived; owned by their lead organisation) with ``shape.reports`` progress reports
    (:class:`ProgressData`), ``COPY`` per table, indexes rebuilt, ``ANALYZE``.

    Returns a :class:`ProgressLoadInfo`. Raises ``RuntimeError`` when the schema lacks a
    table or has a NOT NULL column datagen does not write; ``ValueError`` for SQLite.
    """
    if database_url.startswith("sqlite"):
        raise ValueError("load_progress writes PostgreSQL only (COPY)")
    shape = shape or ProgressShape.scaled(n)
    started = time.perf_counter()
    info = ProgressLoadInfo(count=n)
    orgs = generate_organizations(organization_count(n), seed=seed)
    info.organization_ids = [o["id"] for o in orgs[:SAMPLE_SIZE]]
    now = datetime.now(UTC)
    org_rows = [(o["id"], o["name"], o["normalized_name"], o["stakeholder_group"],
                 o["country"], "verified", now, now, now) for o in orgs]
    data = ProgressData(n, seed, shape, info)
    _load_postgresql(database_url, n, seed, org_rows, orgs, info, progress, started, data)
    info.seconds = time.perf_counter() - started
    return info


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("database_url")
    parser.add_argument("n", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--review", action="store_true",
                        help="the review desk's data (load_review: N published initiatives "
                             "x 5 versions, the review queue around them; PostgreSQL)")
    parser.add_argument("--progress", action="store_true",
                        help="the reporting traffic light's data (load_progress: N "
                             "initiatives with 3 x N progress reports; PostgreSQL)")
    args = parser.parse_args(argv)
    info: LoadInfo
    if args.review:
        info = load_review(args.database_url, args.n, seed=args.seed, progress=True)
    elif args.progress:
        info = load_progress(args.database_url, args.n, seed=args.seed, progress=True)
    else:
        info = load_registry(args.database_url, args.n, seed=args.seed, progress=True)
    print(f"loaded {info.count:,} initiatives in {info.seconds:.1f} s")


if __name__ == "__main__":
    main()
