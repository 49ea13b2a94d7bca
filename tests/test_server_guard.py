"""The app's defences that need no real socket (TestClient, or the ASGI app called directly): the Host
allow-list, the same-origin check, the page's CSP on every path that serves it, the visitor counter's
writes, error bodies that do not echo input, the DNS lookup pool, uploads decoded without extra copies,
and the pixel budget. The socket-level ones (timeouts, the connection cap, refusals without resets) are
in test_connections.py."""

import io
import sqlite3
import threading
import time
import tracemalloc

import anyio
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from autopainter.cli import main
from conftest import plain_result
from autopainter.server import ServerSettings, create_app
from autopainter.server.bounds import InFlight, PixelBudget
from autopainter.server.fetch import FetchError, FetchPolicy, fetch_bytes
from autopainter.server.hosts import HostAllowList, cross_site, hosts_for_bind, machine_addresses


class _Fake:
    """Called like a Colorizer: a blank image of the sketch's size (no model, no memory of its own)."""

    size = 32
    style = "flat"

    def colorize(self, sketch, hints=None, style=None, **region_inputs):
        return plain_result(Image.new("RGB", sketch.size, (1, 2, 3)))

    def regions(self, sketch, gap=None, closing=None):
        from autopainter.inference.regions import segment

        return segment(np.asarray(sketch.convert("L")), gap=gap)


def _png(size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, 255).save(buf, format="PNG")
    return buf.getvalue()


def _settings(tmp_path, **kw) -> ServerSettings:
    return ServerSettings(**{"data_dir": tmp_path / "data", "allowed_hosts": ("testserver",), **kw})


@pytest.fixture
def client(tmp_path):
    with TestClient(create_app(_settings(tmp_path), colorizer=_Fake())) as c:
        yield c


def _error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    assert set(r.json()) == {"error"}
    return r.json()["error"]


# ------------------------------------------------------------------------------ Host allow-list
def test_foreign_host_is_refused(client):
    """DNS rebinding: a page on evil.example whose name now points at this server still sends its name."""
    assert "allowed-hosts" in _error(client.get("/api/v1/health", headers={"Host": "evil.example"}), 421)
    assert _error(client.post("/api/v1/colorize", headers={"Host": "evil.example:8000"},
                              files={"sketch": ("s.png", _png(), "image/png")}), 421)
    for host in ("localhost:8000", "LOCALHOST", "app.localhost", "127.0.0.1:8000", "127.3.2.1", "[::1]:8000",
                 "testserver", "localhost."):
        assert client.get("/api/v1/health", headers={"Host": host}).status_code == 200, host


def test_host_allow_list_rules():
    hosts = HostAllowList(("192.168.1.5", ".example.org", "Intranet.Local."))
    allowed = ["192.168.1.5:8000", "example.org", "img.example.org:443", "intranet.local", "[::1]", None]
    refused = ["192.168.1.6", "example.org.evil.test", "badexample.org", "evil.test", "", "[::1", "a:b:c", "x:port"]
    assert all(hosts.allows(h) for h in allowed)
    assert not any(hosts.allows(h) for h in refused)
    assert HostAllowList(("*",)).allows("anything.test")
    # an entry written with a port, as the browser's address bar shows it, names the host
    with_port = HostAllowList(("paint.example.org:8080", "[fd00::5]:8000"))
    assert with_port.allows("paint.example.org:8080") and with_port.allows("paint.example.org")
    assert with_port.allows("[fd00::5]:8000") and not with_port.allows("other.example.org:8080")


def test_serve_allows_the_bind_address_and_the_machine_when_on_all_interfaces():
    assert hosts_for_bind("192.168.7.7") == ["192.168.7.7"]
    mine = machine_addresses()
    assert hosts_for_bind("0.0.0.0") == mine and len(mine) >= 1
    import socket
    assert socket.gethostname().lower() in mine


def test_allowed_hosts_option(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--allowed-hosts" in capsys.readouterr().out
    with pytest.raises(ValueError, match="allowed_hosts"):
        ServerSettings(allowed_hosts=("http://x/",))


# ------------------------------------------------------------------------------ same origin
def test_cross_site_posts_are_refused(client):
    files = {"sketch": ("s.png", _png(), "image/png")}
    assert "cross-site" in _error(client.post("/api/v1/colorize", files=files, headers={"Origin": "http://evil.example"}), 403)
    assert _error(client.post("/api/v1/colorize", files=files, headers={"Sec-Fetch-Site": "cross-site"}), 403)
    assert _error(client.post("/api/v1/colorize", files=files, headers={"Origin": "null"}), 403)
    ok = [{}, {"Origin": "http://testserver"}, {"Sec-Fetch-Site": "same-origin", "Origin": "http://testserver"},
          {"Sec-Fetch-Site": "none"}]  # no browser word (curl, scripts), or the page itself
    for headers in ok:
        assert client.post("/api/v1/colorize", files=files, headers=headers).status_code == 200, headers
    # reading is not refused: links and images from other sites are fine
    assert client.get("/api/v1/health", headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_origin_compares_host_and_port():
    assert cross_site({"origin": "http://localhost:8000"}, "localhost:8000") is None
    assert cross_site({"origin": "https://app.example.org"}, "app.example.org") is None  # behind a TLS proxy
    assert cross_site({"origin": "https://app.example.org"}, "app.example.org:443") is None
    assert cross_site({"origin": "http://localhost:8001"}, "localhost:8000")
    assert cross_site({"origin": "http://127.0.0.1:8000"}, "localhost:8000")
    assert cross_site({}, "localhost:8000") is None


# ------------------------------------------------------------------------------ the page's CSP
def test_every_path_that_serves_the_page_has_its_csp(client):
    for path in ("/", "/static/index.html", "/static/./index.html", "/static/examples/../index.html"):
        r = client.get(path)
        if r.status_code == 200 and "hint-canvas" in r.text:
            assert "script-src 'self'" in r.headers["content-security-policy"], path
            assert r.headers["x-frame-options"] == "DENY"
    assert "hint-canvas" in client.get("/static/index.html").text
    docs = client.get("/docs")  # Swagger UI runs inline script: not under the page's policy
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers


# ------------------------------------------------------------------------------ the visitor counter
def _stored(tmp_path) -> int:
    db = sqlite3.connect(tmp_path / "data" / "visitors.sqlite3")
    try:
        row = db.execute("SELECT value FROM counters WHERE name = 'visitors'").fetchone()
        return row[0] if row else 0
    finally:
        db.close()


def test_cookieless_gets_write_nothing_and_visits_are_batched(tmp_path):
    app = create_app(_settings(tmp_path), colorizer=_Fake())
    with TestClient(app) as c:
        for _ in range(30):  # curl-like: no cookie jar
            c.get("/", headers={"Cookie": ""})
            c.cookies.clear()
        assert c.get("/api/v1/visitors").json() == {"visitors": 0} and _stored(tmp_path) == 0
        for _ in range(5):  # browsers: the page, then its call for the count, with the cookie the page set
            c.cookies.clear()
            c.get("/")
            c.get("/api/v1/visitors")
            c.get("/api/v1/visitors")  # counted once
        assert c.get("/api/v1/visitors").json() == {"visitors": 5}
        assert _stored(tmp_path) == 0  # not written yet: batched
    assert _stored(tmp_path) == 5  # written when the app stopped


# ------------------------------------------------------------------------------ error bodies
def test_error_bodies_do_not_echo_big_values(client):
    big = "x" * 900_000
    files = {"sketch": ("s.png", _png(), "image/png")}
    for data, params in (({"style": big}, {}), ({"format": big}, {}), ({}, {"format": big[:10_000]}), ({"layers": big}, {})):
        r = client.post("/api/v1/colorize", files=files, data=data, params=params)
        assert r.status_code == 422 and len(r.content) < 1000, (list(data), len(r.content))
    r = client.post("/api/v1/sketchify", files={"image": ("c.png", _png(), "image/png")}, data={"method": big})
    assert r.status_code == 422 and len(r.content) < 1000


# ------------------------------------------------------------------------------ DNS lookups
def test_hanging_name_lookups_do_not_block_later_fetches():
    release = threading.Event()

    def hanging(host, port):
        release.wait(30)
        return ["127.0.0.1"]

    def quick(host, port):
        return ["10.0.0.1"]

    policy = FetchPolicy(timeout_s=0.2)
    try:
        for i in range(4):
            with pytest.raises(FetchError, match="timed out resolving"):
                fetch_bytes(f"http://hang{i}.test/a.png", policy, hanging)
        t0 = time.monotonic()
        with pytest.raises(FetchError, match="private"):  # looked up at once, then refused as private
            fetch_bytes("http://quick.test/a.png", policy, quick)
        assert time.monotonic() - t0 < 2.0  # not behind the hanging lookups (the match above is the real check)
        # with every worker hanging, a fetch fails at once instead of waiting behind them
        from autopainter.server.fetch import _lookup
        while _lookup.busy < _lookup.workers:
            with pytest.raises(FetchError, match="timed out resolving"):
                _lookup(hanging, "more.test", 80, 0.01)
        t0 = time.monotonic()
        with pytest.raises(FetchError, match="pending"):
            fetch_bytes("http://quick.test/a.png", policy, quick)
        assert time.monotonic() - t0 < 1.0
    finally:
        release.set()
    for _ in range(100):
        if _lookup.busy == 0:
            break
        time.sleep(0.01)
    with pytest.raises(FetchError, match="private"):
        fetch_bytes("http://quick.test/a.png", policy, quick)


# ------------------------------------------------------------------------------ uploads
async def _post_chunked(app, body: bytes, content_type: str, chunk=65536) -> int:
    """POST /api/v1/colorize straight into the ASGI app, the body in chunks of ``chunk`` bytes (as uvicorn
    hands it over): the status."""
    pieces = [body[i:i + chunk] for i in range(0, len(body), chunk)]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/v1/colorize", "raw_path": b"/api/v1/colorize", "query_string": b"", "root_path": "",
             "headers": [(b"host", b"localhost"), (b"content-type", content_type.encode()),
                         (b"content-length", str(len(body)).encode())],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "state": {}}
    status = []

    async def receive():
        if pieces:
            return {"type": "http.request", "body": pieces.pop(0), "more_body": bool(pieces)}
        await anyio.sleep(3600)

    async def send(message):
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def test_an_upload_is_held_in_memory_at_most_about_once(tmp_path):
    """Before: the body gathered in chunks, joined, then read from the parser's file: three copies. Now the
    parser spools it to disk and the decoder reads it from there."""
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (800, 800, 3), dtype=np.uint8)).save(buf, format="PNG", compress_level=1)
    png = buf.getvalue()  # ~1.9 MB of noise
    body = (b'--XyZ\r\nContent-Disposition: form-data; name="sketch"; filename="s.png"\r\n'
            b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--XyZ--\r\n")
    app = create_app(_settings(tmp_path, max_upload_bytes=8 << 20), colorizer=_Fake())
    assert anyio.run(_post_chunked, app, body, "multipart/form-data; boundary=XyZ") == 200  # warm-up
    tracemalloc.start()
    try:
        assert anyio.run(_post_chunked, app, body, "multipart/form-data; boundary=XyZ") == 200
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.2 * len(png), f"peak {peak / len(png):.2f} x the upload"


def test_pixel_budget_runs_big_images_in_turn():
    """First come, first served, never over the budget; each job is let go by the test, so the order of
    events does not depend on thread timing."""
    budget = PixelBudget(100)
    log, lock = [], threading.Lock()
    release = {name: threading.Event() for name in ("a", "b", "c", "huge")}

    def job(name, pixels):
        with budget.hold(pixels):
            with budget._cond:
                used = budget.used  # read under the budget's own lock: no holder comes or goes meanwhile
            with lock:
                log.append(("start", name, used))
            release[name].wait(5)
            with lock:
                log.append(("end", name))

    def wait_until(cond):
        deadline = time.monotonic() + 5
        while not cond():
            assert time.monotonic() < deadline, log
            time.sleep(0.005)

    def queued():
        with budget._cond:
            return len(budget._queue)

    threads = []
    for i, (name, pixels) in enumerate((("a", 60), ("b", 60), ("c", 10), ("huge", 500))):
        threads.append(threading.Thread(target=job, args=(name, pixels)))
        threads[-1].start()
        # a holds at once; b waits (60 + 60 > 100); c waits behind b although it fits; huge behind c
        wait_until((lambda: any(e[:2] == ("start", "a") for e in log)) if i == 0 else (lambda n=i: queued() == n))
    release["a"].set()
    wait_until(lambda: any(e[:2] == ("start", "c") for e in log))  # b in, then c fits beside it (70)
    assert not any(e[:2] == ("start", "huge") for e in log)  # huge needs the whole budget
    release["b"].set(), release["c"].set(), release["huge"].set()
    for t in threads:
        t.join(5)
    starts = [e for e in log if e[0] == "start"]
    assert [e[1] for e in starts] == ["a", "b", "c", "huge"]  # first come, first served
    assert all(used <= 100 for _, _, used in starts)
    assert log.index(("end", "a")) < [e[:2] for e in log].index(("start", "b"))  # b waited for a
    assert budget.used == 0


def test_memory_is_given_back_after_big_work_and_when_idle():
    calls = []
    budget = PixelBudget(100, after_big=lambda: calls.append("big"), big=50)
    with_small = budget.work(lambda: _hold(budget, 10))
    with_big = budget.work(lambda: _hold(budget, 80))
    with_small()
    assert calls == []
    with_big()
    assert calls == ["big"]
    gate = InFlight(2, on_idle=lambda: calls.append("idle"), idle_s=0.05)
    assert gate.enter() and gate.enter() and not gate.enter()
    gate.leave()
    gate.leave()
    time.sleep(0.3)
    assert calls == ["big", "idle"]


def _hold(budget, n):
    with budget.hold(n):
        pass


def test_the_app_takes_any_coloring_service_and_names_what_one_lacks(tmp_path):
    from autopainter.inference import Colorizer
    from autopainter.server.api import ColoringService

    assert isinstance(_Fake(), ColoringService) and isinstance(Colorizer.hints_only(), ColoringService)

    class OnlyCall:
        size = 32

        def __call__(self, sketch, hints=None):
            return sketch

    with pytest.raises(TypeError, match="needs style, colorize, regions"):
        create_app(_settings(tmp_path), colorizer=OnlyCall())
