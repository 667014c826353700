"""Web benchmark (issue 17): the desks' pages on the 50,000-patient clinic.

    python bench/web_bench.py --repeat 30

Uses the scale benchmark's cached 50,000-patient clinic (bench/data/scale-50000.db, built once), a
copy of it with three desk accounts, and a real `followup serve` on 127.0.0.1. Measures, each beside a
baseline of the same run (these machines are noisy):

- **start**: from starting `followup serve` to its first answer (GET /login), against the deps floor
  (a Python that imports followup's dependencies and exits) started in the same rounds;
- **list page**: the first screen of the day's list (GET / for a logged-in desk: 50 entries of ~4,900),
  against the server's own static file (GET /static/followup.css: the HTTP, session and thread cost);
- **outcome**: three desks clicking outcomes at once (each POST records one and answers with the
  refreshed list), the 95th percentile, against three desks fetching the static file at once;
- **refresh**: the list refreshing itself when nothing changed (204).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
DESKS = ("desk1", "desk2", "desk3")
PASSWORD = "bench-password-1"
FLOOR = [sys.executable, "-c", "import typer, rich.table, sqlite_utils, dateutil, starlette, jinja2, uvicorn"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(db: Path, port: int) -> tuple[subprocess.Popen, float]:
    """A server, and the seconds from its start to its first answer."""
    import httpx2 as httpx

    t = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "followup", "--db", str(db), "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
            return proc, time.perf_counter() - t
        except httpx.TransportError:
            if proc.poll() is not None:
                raise SystemExit("followup serve did not start")
            time.sleep(0.005)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(timeout=10)


def login(base: str, name: str):
    import httpx2 as httpx

    c = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
    r = c.post("/login", data={"username": name, "password": PASSWORD, "csrf": token})
    assert r.status_code == 303, r.text[:300]
    c.csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/").text).group(1)
    return c


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def at_once(clients, request) -> list[float]:
    """Each client makes its request at the same moment (a barrier); their times."""
    barrier, out = threading.Barrier(len(clients)), []

    def one(c):
        barrier.wait()
        out.append(timed(lambda: request(c)))

    threads = [threading.Thread(target=one, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, int(len(values) * 0.95 + 0.5) - 1)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    from scale_bench import build

    source = build(HERE / "data", 50_000)
    work = Path(tempfile.mkdtemp(prefix="web-bench-"))
    db = work / "clinic.db"
    shutil.copyfile(source, db)
    env = dict(os.environ, FOLLOWUP_DB=str(db))
    for name in DESKS:
        subprocess.run([sys.executable, "-m", "followup", "user", "add", name, "--role", "desk", "--password-stdin"],
                       input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "followup", "today", "--summary"], env=env, check=True,
                   capture_output=True)  # today's list stored, as the nightly import leaves it

    starts, floors = [], []
    for _ in range(5):
        floors.append(timed(lambda: subprocess.run(FLOOR, check=True)))
        proc, took = start(db, free_port())
        starts.append(took)
        stop(proc)
    port = free_port()
    proc, _ = start(db, port)
    base = f"http://127.0.0.1:{port}"
    try:
        desks = [login(base, name) for name in DESKS]
        first = desks[0]
        entries = json.loads(subprocess.run([sys.executable, "-m", "followup", "today", "--format", "json"],
                                            env=env, check=True, capture_output=True).stdout)
        calls = [e["entry_id"] for e in entries if e["channel"] == "call"]
        pages, statics, refreshes = [], [], []
        for _ in range(args.repeat):
            statics.append(timed(lambda: first.get("/static/followup.css").raise_for_status()))
            pages.append(timed(lambda: first.get("/").raise_for_status()))
        version = re.search(r'name="version" value="([^"]+)"', first.get("/").text).group(1)
        for _ in range(args.repeat):
            refreshes.append(timed(lambda: first.post("/list", data={"version": version, "csrf": first.csrf})))
        outcomes, static_at_once = [], []
        todo = iter(calls)
        for _ in range(args.repeat):
            static_at_once += at_once(desks, lambda c: c.get("/static/followup.css").raise_for_status())
            mine = {id(c): next(todo) for c in desks}
            outcomes += at_once(desks, lambda c: c.post(f"/entry/{mine[id(c)]}/outcome",
                                                        data={"outcome": "no-answer", "csrf": c.csrf}))
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)

    ms = lambda s: f"{s * 1000:.0f} ms"  # noqa: E731
    start_m, floor_m = statistics.median(starts), statistics.median(floors)
    print(f"entries on the day: {len(entries)}; rounds: {args.repeat} ({dt.date.today()})")
    print(f"start: {start_m:.2f} s = {start_m / floor_m:.1f} x the deps floor ({floor_m:.2f} s)  [target <= 1.5 s]")
    page_m, static_m = statistics.median(pages), statistics.median(statics)
    print(f"list page: median {ms(page_m)}, p95 {ms(p95(pages))}; static file {ms(static_m)} "
          f"= {page_m / static_m:.1f} x  [target <= 150 ms]")
    print(f"refresh, nothing changed: median {ms(statistics.median(refreshes))}")
    print(f"outcome, 3 desks at once: median {ms(statistics.median(outcomes))}, p95 {ms(p95(outcomes))}; "
          f"static file 3 at once p95 {ms(p95(static_at_once))} = {p95(outcomes) / p95(static_at_once):.1f} x  "
          f"[target p95 <= 100 ms]")


if __name__ == "__main__":
    main()
