"""The app as a server: `python app.py --port N` starts it, and its named endpoints answer gradio_client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(240):  # at most 120 s to load the models and bind
            if process.poll() is not None:
                pytest.fail("the app exited during start-up")
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        else:
            pytest.fail("the app did not start")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_analyze_endpoint(server: str, data_dir: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    page = data_dir / "comics" / "openmantra_rasetugari_005.jpg"
    overlay, summary, _figure, table, json_file = client.predict(
        handle_file(str(page)), True, "yolo", api_name="/analyze"
    )
    assert Path(overlay).is_file() and "panels" in summary
    assert table["data"] and Path(json_file).is_file()


def test_bad_upload_is_a_message_and_the_server_keeps_serving(server: str, tmp_path: Path, data_dir: Path) -> None:
    from gradio_client import Client, handle_file

    client = Client(server, verbose=False)
    bad = tmp_path / "page.png"
    bad.write_bytes(b"definitely not a png")
    with pytest.raises(Exception, match="not a readable image"):
        client.predict(handle_file(str(bad)), False, "yolo", api_name="/analyze")
    clip = next((data_dir / "sounds" / "animal").glob("*.flac"))
    _figure, table = client.predict(handle_file(str(clip)), api_name="/analyze_sound")
    assert table["data"]
