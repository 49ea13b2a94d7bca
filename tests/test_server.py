"""The web app's REST API through TestClient, with the tiny model; the SSRF-safe URL fetcher against a
local HTTP server; limits, bad input and the in-flight bound."""

import base64
import io
import ipaddress
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw

from autopainter.cli import main
from conftest import plain_result
from autopainter.server import ServerSettings, create_app
from autopainter.server.fetch import FetchError, FetchPolicy, FetchTooLargeError, address_problem, fetch_bytes

MAX_UPLOAD = 200_000
MAX_PIXELS = 250_000
URL_MAX_BYTES = 60_000


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def sketch_png(size=(45, 67)) -> bytes:
    img = Image.new("L", size, 255)
    ImageDraw.Draw(img).ellipse((4, 4, size[0] - 5, size[1] - 5), outline=0, width=2)
    return png_bytes(img)


def hints_png(size=(45, 67)) -> bytes:
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((10, 10, size[0] - 10, size[1] - 10), fill=(230, 40, 30, 255))
    return png_bytes(img)


def bomb_png(w=40_000, h=40_000) -> bytes:
    """A valid PNG header claiming w x h pixels (1-bit gray) with a few bytes of data: a decompression bomb."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def decode(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# ------------------------------------------------------------------------------ a local HTTP server
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies without Content-Length end when the connection closes

    def log_message(self, *args):  # keep the test output clean
        pass

    def _send(self, code, body=b"", ctype="image/png", headers=(), length=True):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.server.seen.append((self.path, self.headers.get("Host")))
        p = self.path
        if p == "/sketch.png":
            self._send(200, sketch_png((50, 30)))
        elif p == "/photo.png":
            self._send(200, png_bytes(Image.new("RGB", (40, 24), (200, 120, 40))))
        elif p == "/to-sketch":
            self._send(302, headers=[("Location", "/sketch.png")])
        elif p == "/to-private":
            self._send(302, headers=[("Location", "http://10.0.0.7/sketch.png")])
        elif p == "/to-file":
            self._send(302, headers=[("Location", "file:///etc/passwd")])
        elif p.startswith("/loop/"):
            self._send(302, headers=[("Location", f"/loop/{int(p.rsplit('/', 1)[1]) + 1}")])
        elif p == "/big-stream":  # no Content-Length: the cap must hold while streaming
            self._send(200, b"\0" * (URL_MAX_BYTES * 3), length=False)
        elif p == "/big-declared":
            self.send_response(200)
            self.send_header("Content-Length", str(URL_MAX_BYTES * 100))
            self.end_headers()
            self.wfile.write(b"\0" * 1000)
        elif p == "/text":
            self._send(200, b"<html>not an image</html>", "text/html")
        elif p == "/slow":
            self.send_response(200)
            self.end_headers()
            threading.Event().wait(3)
        else:
            self._send(404, b"no", "text/plain")


@pytest.fixture(scope="module")
def web():
    """A local HTTP server on 127.0.0.1: (base URL, list of (path, Host header) it was asked for)."""
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.seen = []
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", srv.seen
    srv.shutdown()
    srv.server_close()


def settings(tmp_path, model_dir=None, allow=("127.0.0.1/32",), **kw) -> ServerSettings:
    base = dict(model_dir=model_dir, max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS, data_dir=tmp_path / "data",
                fetch=FetchPolicy(timeout_s=1.0, max_bytes=URL_MAX_BYTES, allow=allow),
                allowed_hosts=("testserver",))  # the Host TestClient sends
    return ServerSettings(**{**base, **kw})


@pytest.fixture(scope="module")
def client(tiny_model_dir, tmp_path_factory):
    app = create_app(settings(tmp_path_factory.mktemp("server"), tiny_model_dir))
    with TestClient(app) as c:
        yield c


def assert_error(r, status, *words):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in r.text
    for w in words:
        assert w.lower() in body["error"].lower(), body["error"]


@pytest.fixture(scope="module")
def strict_client(tiny_model_dir, tmp_path_factory):
    """The default URL policy: no private host allowed."""
    app = create_app(settings(tmp_path_factory.mktemp("server"), tiny_model_dir, allow=()))
    with TestClient(app) as c:
        yield c


# ------------------------------------------------------------------------------ the API
def test_health_and_docs(client):
    h = client.get("/api/v1/health").json()
    assert h["status"] == "ok" and h["max_in_flight"] >= 1 and h["limits"]["max_pixels"] == MAX_PIXELS
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/colorize", "/api/v1/sketchify", "/api/v1/health"} <= set(paths)
    assert_error(client.get("/no/such/page"), 404)


def test_page_and_static_files(client):
    r = client.get("/")
    assert r.status_code == 200 and "Auto-Painter" in r.text and "hint-canvas" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    for f in ("app.js", "app.css"):
        assert client.get(f"/static/{f}").status_code == 200
    examples = client.get("/api/v1/examples").json()["examples"]
    assert len(examples) >= 3
    img = decode(client.get(examples[0]["url"]).content)
    assert img.size == (examples[0]["width"], examples[0]["height"])


@pytest.mark.parametrize("size", [(45, 67), (300, 17)])
def test_colorize_png_at_input_size(client, size):
    r = client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(size), "image/png")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = decode(r.content)
    assert img.size == size and img.mode == "RGB"


def test_colorize_json_base64(client):
    for kw in ({"params": {"format": "json"}}, {"data": {"format": "json"}}):
        r = client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(), "image/png")}, **kw)
        assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
        body = r.json()
        assert (body["width"], body["height"]) == (45, 67) and body["media_type"] == "image/png"
        assert decode(base64.b64decode(body["image"])).size == (45, 67)


def test_hints_reach_the_model(client):
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    plain = np.asarray(decode(client.post("/api/v1/colorize", files=files).content))
    hinted = client.post("/api/v1/colorize", files={**files, "hints": ("h.png", hints_png(), "image/png")})
    assert hinted.status_code == 200
    assert not np.array_equal(plain, np.asarray(decode(hinted.content)))
    # hints of another size are stretched over the sketch
    other = client.post("/api/v1/colorize", files={**files, "hints": ("h.png", hints_png((20, 20)), "image/png")})
    assert other.status_code == 200 and decode(other.content).size == (45, 67)
    # an opaque image is no hint layer: every pixel would be a hint
    opaque = png_bytes(Image.new("RGB", (45, 67), (255, 0, 0)))
    assert_error(client.post("/api/v1/colorize", files={**files, "hints": ("h.png", opaque, "image/png")}), 422, "hints", "rgba")


def test_full_size_hints_are_used_as_painted(client, monkeypatch):
    """The page sends its hint layer at the sketch's own size: one painted pixel beside a line colors the region
    it was painted in (nothing is stretched), in flat style. (The tiny model colors both regions alike, so its
    grouping of materials would join them: grouping is off here, test_regions covers it.)"""
    from autopainter.inference import flats

    monkeypatch.setattr(flats, "GROUP_DE", 0.0)
    sketch = Image.new("L", (300, 200), 255)
    draw = ImageDraw.Draw(sketch)
    draw.rectangle((20, 20, 280, 180), outline=0, width=2)
    draw.rectangle((150, 20, 151, 180), fill=0)  # two closed regions: left and right of the line
    hints = Image.new("RGBA", sketch.size, (0, 0, 0, 0))
    hints.putpixel((146, 100), (20, 90, 220, 255))  # one pixel, four from the line
    r = client.post("/api/v1/colorize", data={"style": "flat"}, files={
        "sketch": ("s.png", png_bytes(sketch), "image/png"), "hints": ("h.png", png_bytes(hints), "image/png")})
    assert r.status_code == 200
    out = np.asarray(decode(r.content).convert("RGB"))
    assert out.shape == (200, 300, 3)
    assert (out[25:176, 25:146] == (20, 90, 220)).all()  # the whole left region takes the hint's color
    assert not (out[:, 155:] == (20, 90, 220)).all(axis=-1).any()


def test_layers(client):
    r = client.post("/api/v1/colorize?format=json", files={"sketch": ("s.png", sketch_png(), "image/png")}, data={"layers": "true"})
    assert client.get("/api/v1/health").json()["layers"] is True
    assert r.status_code == 200
    layers = r.json()["layers"]
    assert decode(base64.b64decode(layers["color"])).size == (45, 67)
    lines = decode(base64.b64decode(layers["lines"]))
    assert lines.size == (45, 67) and lines.mode == "RGBA"


def test_styles_and_flats_layer(client):
    health = client.get("/api/v1/health").json()
    assert health["styles"] == ["flat", "soft"] and health["default_style"] == "flat"
    files = {"sketch": ("s.png", sketch_png(), "image/png"), "hints": ("h.png", hints_png(), "image/png")}
    out = {}
    for style in ("flat", "soft"):
        r = client.post("/api/v1/colorize?format=json", files=files, data={"layers": "true", "style": style})
        assert r.status_code == 200, r.text
        layers = {k: np.asarray(decode(base64.b64decode(v)).convert("RGB")) for k, v in r.json()["layers"].items()}
        out[style] = layers
    flats = out["flat"]["flats"]
    assert np.array_equal(flats, out["flat"]["color"])  # the flat style's color layer is its flats
    assert (flats[33, 22] == (230, 40, 30)).all()  # the hinted region, inside the ellipse, in the hint color
    assert np.array_equal(out["soft"]["flats"], flats)  # the flats are the same in either style
    assert_error(client.post("/api/v1/colorize", files=files, data={"style": "oil"}), 422, "style")


def test_regions(client):
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    r = client.post("/api/v1/regions", files=files)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    rgb = np.asarray(decode(r.content).convert("RGB")).astype(np.int64)
    labels = rgb[..., 0] + 256 * rgb[..., 1] + 65536 * rgb[..., 2]
    assert labels.shape == (67, 45) and int(r.headers["X-Region-Count"]) == labels.max() >= 2
    assert labels[33, 22] != labels[1, 1]  # inside and outside the ellipse
    runs = client.post("/api/v1/regions?format=json", files=files).json()
    pairs = np.asarray(runs["runs"]).reshape(-1, 2)
    assert (runs["width"], runs["height"]) == (45, 67)
    assert (np.repeat(pairs[:, 0], pairs[:, 1]).reshape(67, 45) == labels).all()
    assert_error(client.post("/api/v1/regions", files=files, data={"gap": "99"}), 422, "gap")
    assert_error(client.post("/api/v1/regions", files={"sketch": ("s.png", b"nope", "image/png")}), 415)


def test_gap_closing_and_empty_on_colorize_and_regions(client, monkeypatch):
    """The page's region controls reach the library: gap, closing lines (a missing side closed), leave-empty marks.
    (Grouping of materials is off: the tiny model colors every region alike.)"""
    from autopainter.inference import flats

    monkeypatch.setattr(flats, "GROUP_DE", 0.0)
    sketch = Image.new("L", (120, 80), 255)
    d = ImageDraw.Draw(sketch)
    d.line((10, 10, 60, 10), fill=0, width=2)
    d.line((10, 70, 60, 70), fill=0, width=2)
    d.line((10, 10, 10, 70), fill=0, width=2)  # a box open on its right side
    closing = Image.new("RGBA", sketch.size, (0, 0, 0, 0))
    ImageDraw.Draw(closing).line((60, 10, 60, 70), fill=(0, 170, 255, 255), width=2)
    hints = Image.new("RGBA", sketch.size, (0, 0, 0, 0))
    ImageDraw.Draw(hints).rectangle((30, 35, 34, 39), fill=(230, 40, 30, 255))
    sk = ("s.png", png_bytes(sketch), "image/png")
    plain = client.post("/api/v1/regions", files={"sketch": sk}, data={"gap": "2"})
    closed = client.post("/api/v1/regions", files={"sketch": sk, "closing": ("c.png", png_bytes(closing), "image/png")},
                         data={"gap": "2"})
    assert closed.status_code == 200 and closed.headers["X-Region-Gap"] == "2"
    assert int(closed.headers["X-Region-Count"]) > int(plain.headers["X-Region-Count"])
    files = {"sketch": sk, "hints": ("h.png", png_bytes(hints), "image/png"),
             "closing": ("c.png", png_bytes(closing), "image/png")}
    colored = client.post("/api/v1/colorize", files=files, data={"gap": "2"})
    assert colored.headers["X-Region-Gap"] == "2"  # the gap the regions were made with (the page shows the automatic one)
    out = np.asarray(decode(colored.content).convert("RGB"))
    assert (out[40, 45] == (230, 40, 30)).all() and not (out[40, 100] == (230, 40, 30)).all()
    empty = Image.new("RGBA", sketch.size, (0, 0, 0, 0))
    empty.putpixel((45, 50), (255, 0, 170, 255))
    ora = client.post("/api/v1/colorize", files={**files, "empty": ("e.png", png_bytes(empty), "image/png")},
                      data={"gap": "2", "format": "ora"})
    import zipfile

    z = zipfile.ZipFile(io.BytesIO(ora.content))
    stack = z.read("stack.xml").decode()
    assert 'autopainter-gap="2"' in stack and 'name="Closing lines"' in stack and 'name="Leave empty"' in stack
    assert (np.asarray(decode(z.read("mergedimage.png")).convert("RGB"))[40, 45] == 255).all()  # left empty
    assert client.get("/api/v1/health").json()["gap"] == {"max": 40, "default": "auto"}
    assert_error(client.post("/api/v1/colorize", files={"sketch": sk}, data={"gap": "41"}), 422, "gap")
    assert_error(client.post("/api/v1/colorize", files={"sketch": sk}, data={"gap": "-1"}), 422, "gap")
    assert_error(client.post("/api/v1/colorize", files={"sketch": sk, "closing": ("c.png", png_bytes(sketch), "image/png")}),
                 422, "closing")


def test_sketchify(client):
    photo = png_bytes(Image.new("RGB", (64, 40), (250, 250, 250)))
    for method in ("xdog", "thin"):
        r = client.post("/api/v1/sketchify", files={"image": ("c.png", photo, "image/png")}, data={"method": method})
        assert r.status_code == 200
        img = decode(r.content)
        assert img.size == (64, 40) and img.mode == "L"
    r = client.post("/api/v1/sketchify", files={"image": ("c.png", photo, "image/png")}, data={"method": "crayon"})
    assert_error(r, 422, "xdog")


@pytest.mark.parametrize("name,payload,status,words", [
    ("text", b"hello, I am not an image", 415, ["sketch", "not an image"]),
    ("empty", b"", 422, ["empty"]),
    ("truncated", sketch_png((120, 90))[:90], 422, ["sketch"]),
    ("bomb", bomb_png(), 413, ["sketch"]),
    ("too-many-pixels", png_bytes(Image.new("L", (600, 600), 255)), 413, ["pixel limit"]),
])
def test_bad_uploads_are_4xx_json(client, name, payload, status, words):
    r = client.post("/api/v1/colorize", files={"sketch": (f"{name}.png", payload, "image/png")})
    assert_error(r, status, *words)
    assert client.get("/api/v1/health").status_code == 200  # and the server keeps serving


def test_bad_requests_are_4xx_json(client):
    big = b"\0" * (MAX_UPLOAD + 1)
    assert_error(client.post("/api/v1/colorize", files={"sketch": ("s.png", big, "image/png")}), 413, "too large")
    # a chunked body has no Content-Length: the cap holds while it is read
    chunks = (b"\0" * 50_000 for _ in range(6))
    r = client.post("/api/v1/colorize", content=chunks, headers={"content-type": "multipart/form-data; boundary=x"})
    assert_error(r, 413, "too large")
    assert_error(client.post("/api/v1/colorize"), 422, "missing")
    assert_error(client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(), "image/png")}, params={"format": "gif"}), 422, "format")
    assert_error(client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(), "image/png")}, data={"layers": "maybe"}), 422, "layers")
    assert_error(client.post("/api/v1/colorize", data={"url": "http://127.0.0.1/x.png"},
                             files={"sketch": ("s.png", sketch_png(), "image/png")}), 422, "not both")
    assert_error(client.get("/api/v1/colorize"), 405)
    assert_error(client.post("/api/v1/colorize", content=b"{}", headers={"content-type": "application/json"}), 422)


# ------------------------------------------------------------------------------ image URLs
def test_url_input(client, web):
    base, seen = web
    r = client.post("/api/v1/colorize", data={"url": f"{base}/sketch.png"})
    assert r.status_code == 200 and decode(r.content).size == (50, 30)
    r = client.post("/api/v1/colorize", data={"url": f"{base}/to-sketch"})  # one redirect, checked again: fine
    assert r.status_code == 200 and decode(r.content).size == (50, 30)
    r = client.post("/api/v1/sketchify", data={"url": f"{base}/photo.png"})
    assert r.status_code == 200 and decode(r.content).size == (40, 24)
    r = client.post("/api/v1/fetch", data={"url": f"{base}/photo.png"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png" and decode(r.content).size == (40, 24)


@pytest.mark.parametrize("url,words", [
    ("file:///etc/passwd", ["http and https"]),
    ("ftp://example.com/a.png", ["http and https"]),
    ("javascript:alert(1)", ["http and https"]),
    ("example.com/a.png", ["http and https"]),
    ("http://user:secret@example.com/a.png", ["password"]),
    ("http://10.1.2.3/a.png", ["private"]),
    ("http://192.168.0.1/a.png", ["private"]),
    ("http://169.254.169.254/latest/meta-data/", ["link-local"]),
    ("http://localhost:9/a.png", ["loopback"]),
    ("http://[::1]/a.png", ["loopback"]),
    ("http://[::ffff:127.0.0.1]/a.png", ["loopback"]),
    ("http://2130706433/a.png", ["loopback"]),  # 127.0.0.1 written as one number
    ("http://0.0.0.0/a.png", ["unspecified"]),
    ("http://224.0.0.1/a.png", ["multicast"]),
    ("http://host.invalid/a.png", ["resolve"]),
])
def test_bad_urls_are_refused(strict_client, url, words):
    assert_error(strict_client.post("/api/v1/colorize", data={"url": url}), 400, *words)


def test_loopback_refused_without_allow_list(strict_client, web):
    base, seen = web
    seen.clear()
    for endpoint in ("colorize", "sketchify", "fetch"):
        assert_error(strict_client.post(f"/api/v1/{endpoint}", data={"url": f"{base}/sketch.png"}), 400, "loopback")
    assert seen == []  # refused before connecting


@pytest.mark.parametrize("path,status,words", [
    ("/to-private", 400, ["redirect", "private"]),
    ("/to-file", 400, ["redirect", "http and https"]),
    ("/loop/0", 400, ["too many redirects"]),
    ("/big-stream", 413, ["limit"]),
    ("/big-declared", 413, ["limit"]),
    ("/text", 415, ["not an image"]),
    ("/missing.png", 400, ["404"]),
    ("/slow", 400, ["timed out"]),
])
def test_bad_url_content(client, web, path, status, words):
    base, seen = web
    assert_error(client.post("/api/v1/colorize", data={"url": base + path}), status, *words)


def test_redirects_are_capped_at_three(client, web):
    base, seen = web
    seen.clear()
    client.post("/api/v1/colorize", data={"url": f"{base}/loop/0"})
    assert [p for p, _ in seen] == ["/loop/0", "/loop/1", "/loop/2", "/loop/3"]  # the URL + 3 redirects, no more


def test_fetch_connects_to_the_checked_address_with_the_original_host(web):
    base, seen = web
    port = int(base.rsplit(":", 1)[1])
    asked = []

    def resolver(host, port):
        asked.append(host)
        return {"images.test": ["127.0.0.1"], "rebind.test": ["93.184.216.34", "127.0.0.1"],
                "public.test": ["93.184.216.34"]}[host]

    policy = FetchPolicy(timeout_s=2, max_bytes=URL_MAX_BYTES, allow=("images.test",))
    seen.clear()
    data, final = fetch_bytes(f"http://images.test:{port}/sketch.png", policy, resolver)
    assert decode(data).size == (50, 30) and final == f"http://images.test:{port}/sketch.png"
    assert seen == [("/sketch.png", f"images.test:{port}")]  # the checked IP, with the URL's Host header
    assert asked == ["images.test"]  # resolved once: the connection never looks the name up again
    # one bad address among good ones is enough to refuse (DNS answers can be mixed to slip one in)
    with pytest.raises(FetchError, match="loopback"):
        fetch_bytes(f"http://rebind.test:{port}/sketch.png", policy, resolver)
    # an allowed host may not redirect to a name that resolves privately
    with pytest.raises(FetchError, match="10.0.0.7"):
        fetch_bytes(f"http://images.test:{port}/to-private", policy, resolver)
    with pytest.raises(FetchTooLargeError):
        fetch_bytes(f"http://images.test:{port}/big-stream", policy, resolver)


@pytest.mark.parametrize("ip", [
    "127.0.0.1", "127.8.9.10", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1", "ff02::1", "::ffff:127.0.0.1",
    "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "2001:db8::1",
])
def test_address_problem_refuses_non_public(ip):
    assert address_problem(ipaddress.ip_address(ip)) is not None


@pytest.mark.parametrize("ip", ["93.184.216.34", "8.8.8.8", "2606:2800:220:1:248:1893:25c8:1946", "::ffff:93.184.216.34"])
def test_address_problem_allows_public(ip):
    assert address_problem(ipaddress.ip_address(ip)) is None


def test_settings_checks():
    with pytest.raises(ValueError, match="fetch allow"):
        ServerSettings(fetch=FetchPolicy(allow=("not a host/",)))
    with pytest.raises(ValueError, match="max_in_flight"):
        ServerSettings(max_in_flight=0)
    s = ServerSettings(fetch=FetchPolicy(allow=("10.0.0.0/8", "Intranet.Example.")))
    assert s.fetch.allowed_hosts == {"intranet.example"} and ipaddress.ip_network("10.0.0.0/8") in s.fetch.allowed_networks
    for bad in (dict(timeout_s=0), dict(max_bytes=0), dict(max_redirects=-1)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            FetchPolicy(**bad)
    assert ServerSettings().fetch == FetchPolicy()  # the defaults live in one place each


def test_fetched_images_have_the_upload_pixel_cap(tiny_model_dir, tmp_path, web):
    """The app passes settings.max_pixels to the URL fetcher: a URL is no way around the cap."""
    base, _ = web
    small = create_app(settings(tmp_path, tiny_model_dir, max_pixels=50 * 30 - 1))
    with TestClient(small) as c:
        assert_error(c.post("/api/v1/colorize", data={"url": f"{base}/sketch.png"}), 413, "pixel limit")


# ------------------------------------------------------------------------------ the in-flight bound
class _BlockingColorizer:
    """Called like a Colorizer; blocks until released, so the test knows a request is in flight."""

    size = 32

    def __init__(self):
        self.started, self.release = threading.Event(), threading.Event()

    style = "flat"

    def colorize(self, sketch, hints=None, style=None, **region_inputs):
        self.started.set()
        assert self.release.wait(10)
        return plain_result(Image.new("RGB", sketch.size, (1, 2, 3)))

    def regions(self, sketch, gap=None, closing=None):
        raise AssertionError("not used")


def test_busy_server_answers_503_with_retry_after(tmp_path):
    fake = _BlockingColorizer()
    app = create_app(settings(tmp_path, max_in_flight=1, retry_after_s=7), colorizer=fake)
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    with TestClient(app) as c:
        first = {}
        t = threading.Thread(target=lambda: first.setdefault("r", c.post("/api/v1/colorize", files=files)))
        t.start()
        try:
            assert fake.started.wait(10)
            busy = c.post("/api/v1/colorize", files=files)
            assert_error(busy, 503, "busy")
            assert busy.headers["retry-after"] == "7"
            assert c.get("/api/v1/health").json()["in_flight"] == 1  # health is never held up by the bound
        finally:
            fake.release.set()
            t.join(10)
        assert first["r"].status_code == 200 and decode(first["r"].content).size == (45, 67)
        assert c.post("/api/v1/colorize", files=files).status_code == 200  # the slot is free again


class _BrokenColorizer:
    size = 32
    style = "flat"

    def colorize(self, sketch, hints=None, style=None, **region_inputs):
        raise RuntimeError("secret internals")

    def regions(self, sketch, gap=None, closing=None):
        raise RuntimeError("secret internals")


def test_unexpected_failure_is_500_json_without_traceback(tmp_path):
    with TestClient(create_app(settings(tmp_path), colorizer=_BrokenColorizer())) as c:
        r = c.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(), "image/png")})
        assert_error(r, 500, "internal error")
        assert "secret" not in r.text
        assert c.get("/api/v1/health").status_code == 200


# ------------------------------------------------------------------------------ visitor counter
def test_visitor_counter_persists_across_restarts(tiny_model_dir, tmp_path):
    s = settings(tmp_path, tiny_model_dir)
    with TestClient(create_app(s)) as a:
        assert a.get("/api/v1/visitors").json() == {"visitors": 0}
        a.get("/")
        a.get("/")  # the same browser (cookie) counts once
        assert a.get("/api/v1/visitors").json() == {"visitors": 1}
    assert (tmp_path / "data" / "visitors.sqlite3").is_file()
    with TestClient(create_app(s)) as b:  # a restart: a new app on the same file
        b.get("/")
        assert b.get("/api/v1/visitors").json() == {"visitors": 2}


# ------------------------------------------------------------------------------ the serve command
def test_serve_command_errors_are_one_line(tiny_model_dir, tmp_path, capsys):
    assert main(["serve", "--model", str(tmp_path / "nope"), "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("autopainter: error:") and "model folder not found" in err and "\n" not in err
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        assert main(["serve", "--model", str(tiny_model_dir), "--port", str(port), "--data-dir", str(tmp_path)]) == 2
        assert "pick another --port" in capsys.readouterr().err
    finally:
        taken.close()
    assert main(["serve", "--model", str(tiny_model_dir), "--max-in-flight", "0"]) == 2
    assert "--max-in-flight" in capsys.readouterr().err


def test_url_fetch_has_one_deadline_for_the_name_lookup_too():
    import time

    def slow_resolver(host, port):
        time.sleep(3)
        return ["93.184.216.34"]

    policy = FetchPolicy(timeout_s=0.5, max_bytes=URL_MAX_BYTES)
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        fetch_bytes("http://slow.test/sketch.png", policy, slow_resolver)
    assert time.monotonic() - t0 < 2.0


def test_a_failure_outside_inference_is_json_too(tmp_path, tiny_model_dir):
    app = create_app(settings(tmp_path, tiny_model_dir))

    def locked():
        raise RuntimeError("database is locked")

    app.state.counter.get = locked
    with TestClient(app, raise_server_exceptions=False) as c:
        r = c.get("/api/v1/visitors")
        assert_error(r, 500, "internal error")
        assert "locked" not in r.text


def test_counter_on_an_unusable_file_is_a_clear_error(tmp_path):
    from autopainter.server.counter import Counter

    bad = tmp_path / "visitors.sqlite3"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="visitor counter"):
        Counter(bad)


def test_regions_json_of_a_noise_sketch_is_refused_and_the_png_answers(client, monkeypatch):
    """A noise scan's label map as run lengths would be tens of MB of JSON: a 422 naming the PNG instead."""
    from autopainter.inference import regions

    monkeypatch.setattr(regions, "MAX_RUNS", 50)
    monkeypatch.setattr(regions.encode_runs, "__defaults__", (50,))
    rng = np.random.default_rng(0)
    noise = Image.fromarray(np.where(rng.random((64, 64)) < 0.5, 0, 255).astype(np.uint8))
    files = {"sketch": ("n.png", png_bytes(noise), "image/png")}
    assert_error(client.post("/api/v1/regions?format=json", files=files), 422, "runs", "png")
    assert client.post("/api/v1/regions", files=files).status_code == 200


def test_an_upload_the_disk_cannot_hold_is_507_and_logged(tiny_model_dir, tmp_path, monkeypatch, caplog):
    """Before: FastAPI's plain 400 "error parsing the body", nothing logged."""
    import errno
    import tempfile

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", full)  # where a spooled upload over 1 MB rolls over to
    big = np.random.default_rng(0).integers(0, 256, (700, 700, 3), dtype=np.uint8)
    body = png_bytes(Image.fromarray(big), compress_level=0)
    assert len(body) > 1 << 20
    app = create_app(settings(tmp_path, tiny_model_dir, max_upload_bytes=8 << 20, max_pixels=1 << 20))
    with TestClient(app) as client, caplog.at_level("ERROR", logger="autopainter.server"):
        r = client.post("/api/v1/colorize", files={"sketch": ("s.png", body, "image/png")})
    assert_error(r, 507, "no room")
    assert "Retry-After" in r.headers and any("spool" in rec.getMessage() for rec in caplog.records)


# ------------------------------------------------------------------------------ palette variants (issue 32)
PARTS = ["paper", "skin", "hair", "eyes", "clothing", "accessory", "background", "other"]
PALETTES = [{"skin": ["#e0ac69"], "hair": ["#2c1b18"], "clothing": ["#3355aa", "#aa3355"]},
            {"skin": ["#f1c27d"], "hair": ["#d4a017"], "clothing": ["#22aa44", "#eeee22"]},
            {"skin": ["#8d5524"], "hair": ["#b22222"], "clothing": ["#ff8800", "#0088ff"]},
            {"skin": ["#ffdbac"], "hair": ["#000000"], "clothing": ["#888888", "#ff00ff"]}]


def materials_model(out_dir):
    """A tiny model that names materials (a material head and a part head whose every pixel says "clothing"),
    with a palettes.json of four palettes: its variants color the sketch's regions differently."""
    import json

    import torch

    from autopainter.config import GeneratorConfig
    from autopainter.models.io import save_pretrained
    from autopainter.models.unet import build_generator

    torch.manual_seed(0)
    gen = build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0, material_dim=4, parts=PARTS))
    with torch.no_grad():  # random part logits would name the regions by chance (paper, often): name them clothing
        last = gen.part_head.out[-1]
        last.weight.zero_()
        last.bias.fill_(-5.0)
        last.bias[PARTS.index("clothing")] = 5.0
    path = save_pretrained(gen, out_dir, image_size=32)
    (path / "palettes.json").write_text(json.dumps({"format": "autopainter-palettes", "version": 1, "source": "",
                                                    "palettes": PALETTES}))
    return path


def two_shapes_png(size=(96, 64)) -> bytes:
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    d.ellipse((4, 4, 44, 60), outline=0, width=2)
    d.rectangle((52, 8, 90, 56), outline=0, width=2)
    return png_bytes(img)


@pytest.fixture(scope="module")
def materials_client(tmp_path_factory):
    root = tmp_path_factory.mktemp("materials")
    app = create_app(settings(root, materials_model(root / "model")))
    with TestClient(app) as c:
        yield c


def test_variant_and_palette_change_the_colors_of_a_model_that_names_materials(materials_client):
    import json
    import zipfile

    c = materials_client
    assert c.get("/api/v1/health").json()["variants"] == {"default": 0, "max": 1_000_000, "materials": True}
    files = {"sketch": ("s.png", two_shapes_png(), "image/png")}
    answers = [c.post("/api/v1/colorize", files=files, data={} if v is None else {"variant": str(v)})
               for v in (None, 0, 1, 2)]
    for r, v in zip(answers, (0, 0, 1, 2)):
        assert r.status_code == 200, r.text
        assert r.headers["X-Palette-Variant"] == str(v)
        pal = json.loads(r.headers["X-Palette"])
        assert "clothing" in pal and all(len(h) == 7 and h.startswith("#") for h in pal.values())
    images = [np.asarray(decode(r.content).convert("RGB")) for r in answers]
    assert (images[0] == images[1]).all()  # variant 0 is the default
    assert not (images[1] == images[2]).all() and not (images[2] == images[3]).all()
    assert answers[1].headers["X-Palette"] != answers[2].headers["X-Palette"]
    # the user's palette wins over the variant for the material it names; the others keep the variant's colors
    mine = c.post("/api/v1/colorize", files=files, data={"variant": "1", "palette": '{"clothing": "#010203"}'})
    got, before = json.loads(mine.headers["X-Palette"]), json.loads(answers[2].headers["X-Palette"])
    assert got["clothing"] == "#010203" and {k: v for k, v in got.items() if k != "clothing"} == \
        {k: v for k, v in before.items() if k != "clothing"}
    assert (np.asarray(decode(mine.content).convert("RGB")) == (1, 2, 3)).all(axis=2).sum() > 100
    # a hint re-colors its material only: the unhinted ones keep the variant's colors
    hinted = c.post("/api/v1/colorize", files={**files, "hints": ("h.png", hints_png((96, 64)), "image/png")},
                    data={"variant": "2"})
    assert hinted.status_code == 200 and hinted.headers["X-Palette-Variant"] == "2"
    assert hinted.headers["X-Palette"] == answers[3].headers["X-Palette"]  # the no-hint colors of variant 2
    assert hinted.content != answers[3].content
    # the .ora keeps the variant and the palette
    ora = c.post("/api/v1/colorize", files=files, data={"variant": "2", "format": "ora"})
    assert ora.headers["X-Palette-Variant"] == "2" and ora.headers["X-Palette"] == answers[3].headers["X-Palette"]
    stack = zipfile.ZipFile(io.BytesIO(ora.content)).read("stack.xml").decode()
    assert 'autopainter-variant="2"' in stack and "autopainter-palette=" in stack
    # JSON answers carry the headers too
    as_json = c.post("/api/v1/colorize?format=json", files=files, data={"variant": "3"})
    assert as_json.headers["X-Palette-Variant"] == "3" and "X-Palette" in as_json.headers


@pytest.mark.parametrize("field, value, words", [
    ("variant", "-1", ["variant", "0 to 1000000"]),
    ("variant", "1000001", ["variant"]),
    ("variant", "two", ["variant"]),
    ("variant", "1.5", ["variant"]),
    ("palette", "not json", ["palette"]),
    ("palette", "[1, 2]", ["palette", "JSON object"]),
    ("palette", "{}", ["palette"]),
    ("palette", '{"hair": "red"}', ["#a1b2c3"]),
    ("palette", '{"hair": "#12345"}', ["#a1b2c3"]),
    ("palette", '{"hair": "#' + "a" * 5000 + '"}', ["#a1b2c3"]),
])
def test_bad_variant_or_palette_is_422(client, field, value, words):
    r = client.post("/api/v1/colorize", files={"sketch": ("s.png", sketch_png(), "image/png")}, data={field: value})
    assert_error(r, 422, *words)
    assert len(r.json()["error"]) <= 500  # the client's input is never echoed whole


def test_a_model_without_materials_takes_a_variant_and_sends_no_palette(client):
    h = client.get("/api/v1/health").json()
    assert h["variants"] == {"default": 0, "max": 1_000_000, "materials": False}
    files = {"sketch": ("s.png", sketch_png(), "image/png")}
    plain = client.post("/api/v1/colorize", files=files)
    other = client.post("/api/v1/colorize", files=files, data={"variant": "3", "palette": '{"hair": "#3b2a20"}'})
    assert plain.headers["X-Palette-Variant"] == "0" and other.headers["X-Palette-Variant"] == "3"
    assert "X-Palette" not in plain.headers and "X-Palette" not in other.headers
    assert plain.content == other.content  # nothing to color by a palette
    soft = client.post("/api/v1/colorize", files=files, data={"variant": "1", "style": "soft"})
    assert soft.status_code == 200 and "X-Palette" not in soft.headers
