"""``autopainter serve`` under load, on a real socket: a subprocess on a free loopback port (the tiny model),
driven with raw sockets, because what is tested happens below HTTP clients: sockets that send nothing or
half a request, bodies that trickle, refusals that must arrive as HTTP rather than as a reset.

The server runs with short deadlines (``--header-timeout 2 --body-timeout 2``), one request in flight and
a cap of 6 connections, so each test takes a few seconds.
"""

import io
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image, ImageDraw

MAX_CONNECTIONS = 6


def _png() -> bytes:
    img = Image.new("L", (40, 30), 255)
    ImageDraw.Draw(img).ellipse((4, 4, 35, 25), outline=0, width=2)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


class _Slow(BaseHTTPRequestHandler):
    """/slow answers an image after 3 s: a URL colorize on it holds the server's one in-flight slot."""

    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(3)
        body = _png()
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def slow_web():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    """(host, port) of ``autopainter serve`` in a subprocess."""
    data = tmp_path_factory.mktemp("serve-data")
    cmd = [sys.executable, "-m", "autopainter", "serve", "--model", str(tiny_model_dir), "--port", "0", "-q",
           "--data-dir", str(data), "--max-in-flight", "1", "--max-connections", str(MAX_CONNECTIONS),
           "--header-timeout", "2", "--body-timeout", "2", "--allow-url", "127.0.0.1", "--max-upload-mb", "4"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        assert "http://" in line, f"the server did not start: {line!r}"
        host, port = line.split("http://", 1)[1].split("/", 1)[0].rsplit(":", 1)
        for _ in range(200):  # the URL is printed before uvicorn listens
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield host, int(port)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def connect(server, timeout=10.0) -> socket.socket:
    s = socket.create_connection(server, timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s: socket.socket) -> tuple[int, dict, bytes]:
    """Read one HTTP response: (status, headers, body). A reset raises ConnectionResetError."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
    n = int(headers.get("content-length", 0))
    while len(body) < n:
        chunk = s.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def request(server, method="GET", path="/api/v1/health", body=b"", headers=()) -> tuple[int, dict, bytes]:
    with connect(server) as s:
        host = f"127.0.0.1:{server[1]}"
        head = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: close", *headers]
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return read_response(s)


def multipart(fields: dict[str, str | tuple[str, bytes]], boundary="XyZ") -> tuple[bytes, str]:
    """A multipart/form-data body of text fields and (filename, bytes) files, and its content type."""
    out = b""
    for name, value in fields.items():
        if isinstance(value, str):
            out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        else:
            out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{value[0]}"\r\n'
                    "Content-Type: application/octet-stream\r\n\r\n").encode() + value[1] + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def closed_after(s: socket.socket, limit: float) -> float | None:
    """Seconds until the server closes ``s`` (EOF or reset), or None if it is still open after ``limit``."""
    t0 = time.monotonic()
    s.settimeout(limit)
    try:
        while s.recv(65536):
            pass
    except socket.timeout:
        return None
    except ConnectionResetError:
        pass
    return time.monotonic() - t0


def wait_idle(server):
    """Until the server has no request in flight (the slow-URL test leaves one behind for a while)."""
    for _ in range(100):
        status, _, body = request(server)
        if status == 200 and b'"in_flight":0' in body.replace(b" ", b""):
            return
        time.sleep(0.1)


# ------------------------------------------------------------------------------ deadlines
def test_idle_and_half_sent_sockets_are_closed(server):
    socks = {"idle": connect(server), "half a head": connect(server)}
    socks["half a head"].sendall(f"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1:{server[1]}\r\n".encode())
    trickle = connect(server)
    t0 = time.monotonic()
    for byte in b"GET /api/v1/health HTTP/1.1\r\n":  # a byte every 0.2 s: always some progress, never a head
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            break
        time.sleep(0.2)
        if time.monotonic() - t0 > 4:
            break
    socks["trickling"] = trickle
    try:
        for kind, s in socks.items():
            when = closed_after(s, 4.0)
            assert when is not None, f"{kind}: still open after {time.monotonic() - t0:.1f} s"
        assert time.monotonic() - t0 < 8.0  # --header-timeout 2: closed after about two seconds (slack for loaded machines)
    finally:
        for s in socks.values():
            s.close()


def test_slow_body_gets_408(server):
    with connect(server) as s:
        s.sendall(f"POST /api/v1/colorize HTTP/1.1\r\nHost: 127.0.0.1:{server[1]}\r\n"
                  "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n--x".encode())
        t0 = time.monotonic()
        s.settimeout(8)
        status, _, body = read_response(s)
        assert status == 408 and b"too slowly" in body
        assert 1.5 < time.monotonic() - t0 < 10  # --body-timeout 2, then the minimum rate (slack for loaded machines)


# ------------------------------------------------------------------------------ the cap
def test_more_idle_sockets_than_the_cap_do_not_deny_service(server):
    idle = [connect(server) for _ in range(MAX_CONNECTIONS + 10)]  # all waiting for a request head
    time.sleep(0.6)  # older than the grace of a connection just accepted (connections.EVICT_GRACE_S)
    try:
        status, _, body = request(server)  # the server closes idle sockets to make room: served at once
        assert status == 200 and b'"status":"ok"' in body.replace(b" ", b"")
        closed = sum(closed_after(s, 0.5) is not None for s in idle[:10])
        assert closed >= 10 - 1  # the oldest were closed for it
    finally:
        for s in idle:
            s.close()


def test_full_of_busy_connections_answers_503_that_arrives(server):
    """Every connection in the middle of a request (bodies on their way): a new request gets 503 with
    Retry-After, before its own body is sent, and the connection closes without a reset."""
    wait_idle(server)
    busy = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = connect(server)
            s.sendall(f"POST /api/v1/sketchify HTTP/1.1\r\nHost: 127.0.0.1:{server[1]}\r\n"
                      "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 90000\r\n\r\n--x".encode())
            busy.append(s)
        time.sleep(0.2)
        payload, ctype = multipart({"sketch": ("s.png", b"\0" * 300_000)})
        with connect(server) as s:
            s.sendall(f"POST /api/v1/colorize HTTP/1.1\r\nHost: 127.0.0.1:{server[1]}\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(payload)}\r\n\r\n".encode())
            status, headers, body = read_response(s)  # answered before the body is sent
            # the connection cap's own refusal, not the in-flight bound's
            assert status == 503 and headers["retry-after"].isdigit() and b"too many open connections" in body
            s.sendall(payload)  # the server reads and drops it, then closes: no reset
            assert s.recv(100) == b""
    finally:
        for s in busy:
            s.close()


# ------------------------------------------------------------------------------ the in-flight bound
@pytest.mark.slow
def test_busy_503_comes_before_the_upload_is_read_and_without_reset(server, slow_web):
    wait_idle(server)
    form, ctype = multipart({"url": f"{slow_web}/slow"})
    holder = threading.Thread(target=request, args=(server, "POST", "/api/v1/colorize", form, [f"Content-Type: {ctype}"]))
    holder.start()
    try:
        for _ in range(50):  # until the slow URL holds the one slot
            status, _, body = request(server)
            if b'"in_flight":1' in body.replace(b" ", b""):
                break
            time.sleep(0.05)
        else:
            pytest.fail("the slow request never took the slot")
        payload, ctype = multipart({"sketch": ("s.png", _png() + b"\0" * 2_000_000)})
        with connect(server) as s:
            s.sendall(f"POST /api/v1/colorize HTTP/1.1\r\nHost: 127.0.0.1:{server[1]}\r\nContent-Type: {ctype}\r\n"
                      f"Content-Length: {len(payload)}\r\n\r\n".encode())
            status, headers, body = read_response(s)  # the head alone is enough for the answer
            assert status == 503 and headers["retry-after"].isdigit() and b"being worked on" in body  # the in-flight bound
            s.sendall(payload)
            assert s.recv(100) == b""  # closed after the body was read: EOF, not a reset
        status, _, _ = request(server)
        assert status == 200  # health is answered while inference is full
    finally:
        holder.join(15)


def test_a_burst_gets_only_200_and_503(server):
    wait_idle(server)
    payload, ctype = multipart({"sketch": ("s.png", _png() + b"\0" * 100_000)})  # trailing bytes: PNG ignores them
    results, lock = [], threading.Lock()

    def one():
        try:
            status, headers, _ = request(server, "POST", "/api/v1/colorize", payload, [f"Content-Type: {ctype}"])
            out = (status, headers.get("retry-after"))
        except OSError as e:
            out = (type(e).__name__, None)
        with lock:
            results.append(out)

    threads = [threading.Thread(target=one) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    statuses = sorted(str(s) for s, _ in results)
    assert len(results) == 20 and set(statuses) <= {"200", "503"}, statuses
    assert "200" in statuses and all(ra for s, ra in results if s == 503)
