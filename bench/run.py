"""Run every benchmark and write the results (issue 6, "The harness"; ``make bench``).

Runs each ``bench/bench_*.py`` in a subprocess (forwarding ``--smoke``), echoes its output,
collects its ``BENCH_ROW`` lines, and writes to the results folder (default ``bench/results``):

* ``<YYYY-MM-DD>.json`` and a copy ``latest.json``: ``{"header": {...}, "rows": [...]}`` — the
  header records when, the machine (CPU model, cores, memory), the git commit, the server
  settings (waitress threads, PostgreSQL version and key settings, wrk), the data sizes and each
  script's exit status and duration; ``rows`` holds one row per measured figure in the format
  of HELPERS.md (plus ``script``, the file that measured it).
* ``latest.md``: the same rows as a markdown table.

With ``--only NAME`` (e.g. ``--only http`` for ``bench_http.py``) just those scripts run; the
rows of the others are carried over from the previous ``latest.json`` (marked
``carried_over_from``), so the table stays complete. ``--smoke`` writes to a temporary folder
unless ``--results-dir`` is given, so CI figures never replace the real ones.

    .venv/bin/python bench/run.py [--smoke] [--only NAME ...] [--results-dir DIR]
                                  [--million auto|yes|no]

Exit status 1 when a script failed or printed no row without saying why it skipped.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_http  # noqa: E402
import harness  # noqa: E402

BENCH_DIR = harness.BENCH_DIR
RESULTS_DIR = BENCH_DIR / "results"
SKIP_PREFIX = "BENCH_SKIP "
#: Seconds one script may take before it is stopped (the whole run's budget is 30 minutes).
SCRIPT_TIMEOUT = {"smoke": 300, "full": 2700}


def discover(only: list[str] | None) -> list[Path]:
    """``bench/bench_*.py`` in name order, or those named by ``only`` (``http`` or
    ``bench_http`` or ``bench_http.py``). Raises ``SystemExit`` for an unknown name."""
    scripts = sorted(BENCH_DIR.glob("bench_*.py"))
    if not only:
        return scripts
    by_name = {p.stem.removeprefix("bench_"): p for p in scripts}
    chosen = []
    for name in only:
        key = Path(name).stem.removeprefix("bench_")
        if key not in by_name:
            raise SystemExit(f"no benchmark {name!r}; there are: {', '.join(sorted(by_name))}")
        chosen.append(by_name[key])
    return chosen


def run_script(script: Path, args: list[str], timeout: float) -> dict:
    """Run one script, echoing its output; its rows, exit status, seconds and skip reason."""
    started = time.perf_counter()
    harness.say(f"== {script.name} {' '.join(args)}")
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=harness.ROOT, bufsize=1)
    lines: list[str] = []
    killed = threading.Event()

    def stop() -> None:
        killed.set()
        proc.kill()

    watchdog = threading.Timer(timeout, stop)
    watchdog.start()
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line.rstrip("\n"))
        returncode = proc.wait()
    finally:
        watchdog.cancel()
        proc.stdout.close()
    timed_out = killed.is_set()
    text = "\n".join(lines)
    rows = [r | {"script": script.name} for r in harness.parse_rows(text)]
    skipped = next((ln[len(SKIP_PREFIX):] for ln in lines if ln.startswith(SKIP_PREFIX)), None)
    seconds = time.perf_counter() - started
    harness.say(f"== {script.name}: {len(rows)} rows, exit {returncode}, {seconds:.0f} s"
                + (" (TIMED OUT)" if timed_out else ""))
    return {"script": script.name, "args": args, "returncode": returncode,
            "seconds": round(seconds, 1), "rows": len(rows), "skipped": skipped,
            "timed_out": timed_out, "tail": None if returncode == 0 else text[-3000:],
            "_rows": rows}


def script_args(script: Path, smoke: bool, million: bool) -> list[str]:
    """Arguments for one script: ``--smoke``; ``--with-million`` for bench_http's full run."""
    if smoke:
        return ["--smoke"]
    if script.name == "bench_http.py" and million:
        return ["--with-million"]
    return []


def carried_over(results_dir: Path, scripts_run: set[str]) -> list[dict]:
    """Rows of the previous ``latest.json`` measured by scripts not run now."""
    latest = results_dir / "latest.json"
    if not latest.is_file():
        return []
    try:
        previous = json.loads(latest.read_text())
        when = previous["header"]["started_at"]
        return [r | {"carried_over_from": r.get("carried_over_from") or when}
                for r in previous["rows"] if r.get("script") not in scripts_run]
    except (ValueError, KeyError, TypeError):
        return []


def write_results(results_dir: Path, header: dict, rows: list[dict]) -> tuple[Path, Path]:
    """Write ``<date>.json``, ``latest.json`` and ``latest.md``; the paths of the first two."""
    results_dir.mkdir(parents=True, exist_ok=True)
    document = {"header": header, "rows": rows}
    dated = results_dir / f"{header['started_at'][:10]}.json"
    dated.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    latest = results_dir / "latest.json"
    shutil.copyfile(dated, latest)
    (results_dir / "latest.md").write_text(markdown(header, rows))
    return dated, latest


def markdown(header: dict, rows: list[dict]) -> str:
    """The run as markdown: what, where, then the table and any failures or skips."""
    m = header["machine"]
    settings = header["server_settings"]
    pg = settings.get("postgresql") or {}
    lines = [
        f"# Benchmarks {header['started_at']}{' (smoke)' if header['smoke'] else ''}",
        "",
        f"Commit `{header['git']['commit'][:12]}` ({header['git']['branch']}"
        f"{', uncommitted changes' if header['git']['dirty'] else ''}); "
        f"{m['cpu_model']}, {m['cores']} cores, {m['memory_mib']:,} MiB; "
        f"PostgreSQL {pg.get('version', '?')} (server settings: shared_buffers "
        f"{pg.get('shared_buffers', '?')}, "
        f"jit {pg.get('jit', '?')}); waitress threads {settings.get('waitress_threads')}; "
        f"{settings.get('wrk')}; "
        f"run took {header['elapsed_s'] / 60:.1f} min.",
        "",
        "Ratio: product/reference for throughput, reference/product for latency (> 1: the "
        "product is better). CPU ms per request from /proc (service process; PostgreSQL "
        "backends of its connections).",
        "",
        harness.markdown_table(rows),
        "",
    ]
    for s in header["scripts"]:
        if s["skipped"]:
            lines.append(f"- {s['script']} skipped: {s['skipped']}")
        elif s["returncode"] != 0:
            lines.append(f"- {s['script']} FAILED (exit {s['returncode']}"
                         f"{', timed out' if s['timed_out'] else ''})")
    carried = sorted({r["carried_over_from"] for r in rows if r.get("carried_over_from")})
    if carried:
        lines.append(f"- rows carried over from earlier runs: {', '.join(carried)}")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="CI sizes, a few seconds a call")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    parser.add_argument("--results-dir", type=Path, default=None,
                        help="where to write (default bench/results; --smoke: a temp folder)")
    parser.add_argument("--million", choices=("auto", "yes", "no"), default="auto",
                        help="bench_http's list at 1,000,000 initiatives: auto (default) = "
                             "only when its template database is loaded already (loading "
                             "takes ~10-20 min on 2 cores); yes = load it if needed")
    parser.add_argument("--drop-templates", action="store_true",
                        help="drop the template databases of loaded data (bench_tpl_*) and exit")
    args = parser.parse_args(argv)
    if args.drop_templates:
        harness.say(f"dropped: {', '.join(harness.drop_templates()) or 'none'}")
        return 0
    results_dir = args.results_dir or (Path(tempfile.mkdtemp(prefix="bench-smoke-"))
                                       if args.smoke else RESULTS_DIR)
    scripts = discover(args.only)
    started_at = datetime.now(UTC)
    t0 = time.perf_counter()
    timeout = SCRIPT_TIMEOUT["smoke" if args.smoke else "full"]
    http = any(s.name == "bench_http.py" for s in scripts)
    million = args.million == "yes" or (args.million == "auto" and not args.smoke and http
                                         and harness.template_ready(bench_http.MILLION))
    if args.million == "auto" and not args.smoke and http and not million:
        harness.say("bench_http: list at 1,000,000 not measured (no loaded template yet; "
                    "`make bench BENCH_ARGS='--million yes'` loads it once, ~10-20 min)")
    runs = [run_script(s, script_args(s, args.smoke, million), timeout) for s in scripts]
    rows = [r for run in runs for r in run.pop("_rows")]
    if args.only:
        rows += carried_over(results_dir, {s.name for s in scripts})
    header = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "elapsed_s": round(time.perf_counter() - t0, 1),
        "smoke": args.smoke,
        "only": args.only,
        "machine": harness.machine_info(),
        "git": harness.git_commit(),
        "server_settings": harness.server_settings(),
        "data_sizes": sorted({r["data_size"] for r in rows if r.get("data_size") is not None}),
        "scripts": runs,
        "row_keys": list(harness.ROW_KEYS),
    }
    dated, latest = write_results(results_dir, header, rows)
    harness.say("\n" + harness.markdown_table(rows) + "\n")
    failed = [r["script"] for r in runs
              if r["returncode"] != 0 or (r["rows"] == 0 and not r["skipped"])]
    harness.say(f"wrote {dated} and {latest} ({len(rows)} rows); "
                f"elapsed {header['elapsed_s'] / 60:.1f} min"
                + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
