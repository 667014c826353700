"""`followup send` benchmark: 5,000 SMS to a local gateway that speaks SMS.ru's API.

    python bench/send_bench.py [--messages 5000] [--repeat 3]

Builds a clinic of N patients, each with an SMS consent for recalls and a hygiene recall due today,
and a local HTTP server answering as SMS.ru does. Then, interleaved round by round, each a fresh
process on a fresh copy of the database:

- baseline: the same N form POSTs to the same server by a bare urllib loop (what the HTTP calls
  cost by themselves: the floor of any sender that makes one call a message)
- send:     followup send --quiet (plans the day, commits an outbox row before each call and the
            outcome after it: two transactions a message)

Printed: seconds, messages per second, the ratio send / baseline, and send's peak memory.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


class Gateway(BaseHTTPRequestHandler):
    count = 0
    protocol_version = "HTTP/1.0"

    def do_POST(self):
        form = dict(urllib.parse.parse_qsl(self.rfile.read(int(self.headers["Content-Length"])).decode()))
        Gateway.count += 1
        to = form.get("to", "")
        body = json.dumps({"status": "OK", "status_code": 100, "balance": 1,
                           "sms": {to: {"status": "OK", "status_code": 100, "sms_id": f"1-{Gateway.count}"}}}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def build(where: Path, n: int) -> Path:
    from followup import db
    from followup.importing import ImportOptions, import_paths

    today = dt.date.today()
    hygiene = (today - dt.timedelta(days=190)).strftime("%d.%m.%Y")
    p, v = where / "p.csv", where / "v.csv"
    p.write_text("Номер карты;ФИО;Телефон\n" + "".join(f"K{k:05d};Пациентова{k} Анна Петровна;8916{k:07d}\n"
                                                      for k in range(n)), encoding="utf-8")
    v.write_text("Номер визита;Номер карты;Врач;Дата визита;Вид приёма\n" + "".join(
        f"V{k};K{k:05d};Козлов Дмитрий Игоревич;{hygiene};Профгигиена\n" for k in range(n)), encoding="utf-8")
    path = where / "send.db"
    conn = db.connect(path)
    import_paths(conn, path, [p, v], ImportOptions(user="bench"), today=today)
    db.add_consents(conn, [{"patient_id": f"K{k:05d}", "purpose": "recall", "channel": "sms", "granted": 1,
                            "address": None, "window": None, "days": None, "how": "in-person", "note": None,
                            "source": "followup", "recorded_by": "bench", "recorded_at": f"{today} 08:00:00"}
                           for k in range(n)])
    for key, value in {"clinic.timezone": "UTC", "send.hours": "00:00-23:59", "language": "ru",
                       "desk.capacity.sms": str(n + 1)}.items():
        db.set_setting(conn, key, value, by="bench", at=f"{today} 08:00:00")
    conn.close()
    return path


BASELINE = """
import sys, urllib.parse, urllib.request
url, n = sys.argv[1], int(sys.argv[2])
for k in range(n):
    data = urllib.parse.urlencode({"api_id": "k", "to": f"7916{k:07d}", "msg": "Здравствуйте, Анна Петровна! " * 4,
                                   "json": 1}).encode()
    with urllib.request.urlopen(urllib.request.Request(url + "/sms/send", data=data, method="POST"), timeout=20) as r:
        r.read()
"""


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="send-bench-"))
    pristine = build(work, args.messages)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    base, send = [], []
    for r in range(args.repeat):
        copy = work / f"round{r}.db"
        shutil.copy(pristine, copy)
        env = dict(os.environ, FOLLOWUP_DB=str(copy), FOLLOWUP_SMS_KEY="k", FOLLOWUP_USER="bench")
        sqlite3.connect(copy).execute(f"INSERT OR REPLACE INTO settings (key, value, updated_by, updated_at) VALUES "
                                      f"('send.sms.url', '{url}', 'bench', '2026-01-01')").connection.commit()
        base.append(timed([sys.executable, "-c", BASELINE, url, str(args.messages)], env))
        before = Gateway.count
        send.append(timed([sys.executable, "-m", "followup", "send", "--quiet"], env))
        assert Gateway.count - before == args.messages, (Gateway.count - before, "messages reached the gateway")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    b, s = statistics.median(base), statistics.median(send)
    print(f"{args.messages} messages, {args.repeat} rounds (medians): baseline {b:.2f} s "
          f"({args.messages / b:.0f}/s); send {s:.2f} s ({args.messages / s:.0f}/s); "
          f"ratio {s / b:.2f}x; peak memory of the largest child {peak_mb:.0f} MB")
    server.shutdown()
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
