"""JupyterLab itself serves the course: started with `make lab`'s settings (the course map as the
page it opens), headless, on a free loopback port with a token; checked over HTTP and a kernel's
websocket; stopped cleanly."""
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import websocket  # websocket-client, a dependency of jupyter_server

pytestmark = pytest.mark.kernel   # starts kernels: not in `make check`

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    def __init__(self, port, token):
        self.base, self.token = f"http://127.0.0.1:{port}", token

    def request(self, path, method="GET", body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=30) as response:
            text = response.read().decode("utf-8")
            return response.status, (json.loads(text) if text and "json" in response.headers["Content-Type"] else text)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyter-home")
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "HOME": str(home), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={ROOT}", "--LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb",
               *(["--allow-root"] if os.geteuid() == 0 else [])]
    log = open(home / "server.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    lab = Server(port, token)
    lab.process = process
    deadline = time.monotonic() + 60
    while True:
        try:
            if lab.request("/api/status")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        assert process.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()
        time.sleep(0.3)
    yield lab
    if process.poll() is None:
        process.kill()
        process.wait()
    log.close()


def test_the_server_needs_its_token(server):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(server.base + "/api/contents/notebooks", timeout=30)
    assert refused.value.code == 403


def test_it_serves_jupyterlab_and_every_notebook_and_lab(server):
    status, page = server.request("/lab")
    assert status == 200 and "JupyterLab" in page
    assert "@jupyter-widgets/jupyterlab-manager" in page   # the explorers' widgets work, no extension step
    with urllib.request.urlopen(f"{server.base}/?token={server.token}", timeout=30) as opened:   # as make lab
        assert opened.url.split("?")[0].endswith("/lab/tree/notebooks/00_start_here.ipynb")
    for folder in ("notebooks", "labs"):
        _, listing = server.request(f"/api/contents/{folder}")
        served = {item["name"] for item in listing["content"] if item["type"] == "notebook"}
        assert served == {p.name for p in (ROOT / folder).glob("*.ipynb")}
    _, notebook = server.request("/api/contents/notebooks/00_start_here.ipynb")
    assert notebook["content"]["cells"][0]["source"].startswith("# 00 · Start here")


def run_in_kernel(server, kernel_id, code, timeout=60):
    """Execute code over the kernel's websocket; return its stdout, or fail with its error."""
    url = f"ws://{server.base.split('//')[1]}/api/kernels/{kernel_id}/channels?token={server.token}"
    connection = websocket.create_connection(url, timeout=timeout)
    msg_id = uuid.uuid4().hex
    connection.send(json.dumps({
        "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": uuid.uuid4().hex,
                   "version": "5.3", "date": ""},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False}}))
    out, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = json.loads(connection.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                pytest.fail(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return "".join(out)
    finally:
        connection.close()
    pytest.fail("the kernel did not answer in time")


def test_a_kernel_from_the_project_venv_starts_and_imports_utils(server):
    status, kernel = server.request("/api/kernels", method="POST", body={"name": "python3"})
    assert status == 201
    try:
        out = run_in_kernel(server, kernel["id"], "import sys, utils\nprint(sys.prefix)\nprint(utils.__file__)")
        prefix, utils_file = out.split()
        assert Path(prefix).resolve() == Path(sys.prefix).resolve()    # the venv make created
        assert Path(utils_file).resolve() == ROOT / "utils" / "__init__.py"
    finally:
        assert server.request(f"/api/kernels/{kernel['id']}", method="DELETE")[0] == 204


def test_the_server_stops_cleanly_when_asked(server):
    """Runs last: the server shuts its kernels down and exits with status 0."""
    assert server.request("/api/shutdown", method="POST")[0] == 200
    assert server.process.wait(timeout=30) == 0
