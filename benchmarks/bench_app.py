"""The app as a server under a stream of requests: memory (RSS) and disk used by per-request files.

Starts ``python app.py`` (offline, its temporary folder and Gradio's cache under a fresh folder, files deleted
after ``--max-age`` seconds), sends ``--warmup`` requests, then ``--requests`` more through gradio_client,
alternating ``/analyze`` (classical detector) and ``/generate`` (``--seconds`` of the scene, page mode), with the
example pages in turn and the lettering not read (both are the fast paths: the stream is about what piles up,
not speed). Every ``--every`` requests it records the server's resident memory (VmRSS) and the bytes under the
temporary folder (the app's request folders plus Gradio's cache). Targets (issue 24): RSS grows at most 10 % over
100 requests after the warm-up; the disk used stays bounded (it stops growing once files reach their age).

    python benchmarks/bench_app.py --requests 300 --max-age 60 --json docs/bench_app.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gradio_client

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted((REPO / "examples").glob("*.jpg"))


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def disk_mib(folder: Path) -> float:
    """Bytes of the files under ``folder`` in MiB (files deleted while counting are skipped)."""
    total = 0
    for path in folder.rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            pass
    return total / 2**20


def start_app(port: int, scratch: Path, max_age: float, log: Path) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(scratch),
           "GRADIO_TEMP_DIR": str(scratch / "gradio"), "BD2MUSIC_FILES_MAX_AGE": str(max_age)}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env,
                               stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return process
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the app did not start; see {log}")
        time.sleep(0.5)


def send(client: gradio_client.Client, index: int, seconds: float) -> None:
    page = gradio_client.handle_file(str(PAGES[index // 2 % len(PAGES)]))
    if index % 2 == 0:
        client.predict(page, False, "classical", False, api_name="/analyze")
    else:
        client.predict(page, seconds, index, False, False, "yolo", "scene", False, api_name="/generate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--every", type=int, default=10, help="record memory and disk every N requests")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of each generated track")
    parser.add_argument("--max-age", type=float, default=60.0, help="BD2MUSIC_FILES_MAX_AGE of the server")
    parser.add_argument("--json", type=Path, help="write the measurements here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench_app_") as folder, socket.socket() as sock:
        scratch = Path(folder)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        sock.close()
        process = start_app(port, scratch, args.max_age, scratch.parent / f"{scratch.name}.log")
        try:
            client = gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
            start = time.monotonic()
            for index in range(args.warmup):
                send(client, index, args.seconds)
            rows = [{"requests": 0, "seconds": 0.0, "rss_mib": rss_mib(process.pid), "disk_mib": disk_mib(scratch)}]
            start = time.monotonic()
            for index in range(args.requests):
                send(client, args.warmup + index, args.seconds)
                if (index + 1) % args.every == 0:
                    rows.append({"requests": index + 1, "seconds": round(time.monotonic() - start, 1),
                                 "rss_mib": round(rss_mib(process.pid), 1), "disk_mib": round(disk_mib(scratch), 1)})
                    print(rows[-1], flush=True)
        finally:
            process.terminate()
            process.wait(timeout=60)
    warm = rows[0]["rss_mib"]
    after_100 = next(row["rss_mib"] for row in rows if row["requests"] >= min(100, args.requests))
    disks = [row["disk_mib"] for row in rows]
    half = disks[len(disks) // 2:]
    summary = {"warmup_rss_mib": round(warm, 1), "rss_growth_100": round(after_100 / warm - 1, 4),
               "rss_growth_all": round(rows[-1]["rss_mib"] / warm - 1, 4), "disk_max_mib": max(disks),
               "disk_last_half_max_mib": max(half), "disk_first_half_max_mib": max(disks[: len(disks) // 2]),
               "requests": args.requests, "max_age_s": args.max_age, "cpus": os.cpu_count()}
    print(json.dumps(summary, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
