"""Reliability round 3 (issue 31): a killed export never ruins a model folder, a bad ``trained`` record or a
deeply nested config.json is a one-line error, non-finite or integer weights are refused, a redirect to a
URL that is not one is a 400, a busy server stops by its deadline, and the smaller items of the issue."""

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from unittest import mock

import pytest
import torch

from conftest import tiny_config


def _gen(seed: int):
    from autopainter.config import GeneratorConfig
    from autopainter.models.unet import build_generator

    torch.manual_seed(seed)
    return build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0))


def _disc(seed: int):
    from autopainter.config import DiscriminatorConfig
    from autopainter.models.patchgan import build_discriminator

    torch.manual_seed(seed)
    cfg = DiscriminatorConfig(ndf=8, layers=2, norm="group")
    return cfg, build_discriminator(cfg).state_dict()


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autopainter: error:"), err
    assert "Traceback" not in err[0]
    return err[0]


# ------------------------------------------------------------------------------ 2. atomic export
class Killed(BaseException):
    """A stand-in for kill -9: nothing after it runs (every later rename, unlink or rmdir dies too)."""


def _faulty(n: int, kill: bool):
    """Patches for os.rename/os.replace (and, once 'killed', unlink/rmdir) that fail at the n-th rename."""
    real = {name: getattr(os, name) for name in ("rename", "replace", "unlink", "rmdir", "remove")}
    state = {"renames": 0, "dead": False}

    def renamer(name):
        def f(*a, **k):
            if state["dead"]:
                raise Killed()
            state["renames"] += 1
            if state["renames"] == n:
                if kill:
                    state["dead"] = True
                    raise Killed()
                raise OSError(28, "No space left on device")
            return real[name](*a, **k)
        return f

    def remover(name):
        def f(*a, **k):
            if state["dead"]:
                raise Killed()
            return real[name](*a, **k)
        return f

    patches = [mock.patch.object(os, "rename", renamer("rename")), mock.patch.object(os, "replace", renamer("replace"))]
    patches += [mock.patch.object(os, name, remover(name)) for name in ("unlink", "rmdir", "remove")]
    return patches, state


def _weights(model_dir):
    from autopainter.models.io import load_discriminator, load_generator

    gen, _ = load_generator(model_dir)
    found = load_discriminator(model_dir)
    return gen.state_dict(), (found[1] if found else None)


def _same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kill", [False, True], ids=["error", "kill"])
def test_export_fault_at_any_rename_leaves_the_old_or_the_new_model(tmp_path, kill):
    """A fault (ENOSPC, or kill -9) at any rename of an export over an existing model folder leaves the
    old model (G and its D) or the new one loadable, never a mix; the next load or export settles it."""
    from autopainter.models.io import save_pretrained

    gen_a, gen_b, d_a, d_b = _gen(1), _gen(2), _disc(1), _disc(2)
    ref = tmp_path / "ref"
    save_pretrained(gen_a, ref / "a", image_size=32, discriminator=d_a)
    save_pretrained(gen_b, ref / "b", image_size=32, discriminator=d_b)
    want_a, want_b = _weights(ref / "a"), _weights(ref / "b")
    outcomes = set()
    for n in range(1, 9):
        work = tmp_path / f"n{n}"
        work.mkdir()
        save_pretrained(gen_a, work / "m", image_size=32, discriminator=d_a)
        (work / "m" / "notes.txt").write_text("mine")
        patches, state = _faulty(n, kill)
        for p in patches:
            p.start()
        try:
            save_pretrained(gen_b, work / "m", image_size=32, discriminator=d_b)
            failed = False
        except (OSError, Killed):
            failed = True
        finally:
            for p in reversed(patches):
                p.stop()
        g, d = _weights(work / "m")  # the load settles a half-done swap
        if _same(g, want_a[0]):
            assert d is not None and _same(d, want_a[1]), f"fault at rename {n}: the old G beside another D"
            outcomes.add("old")
        else:
            assert _same(g, want_b[0]) and d is not None and _same(d, want_b[1]), f"fault at rename {n}: a mix"
            outcomes.add("new")
        assert (work / "m" / "notes.txt").read_text() == "mine"  # the folder's other files stay
        if not failed:
            break
        # the next export completes, and leaves nothing else beside the folder
        save_pretrained(gen_b, work / "m", image_size=32, discriminator=d_b)
        g, d = _weights(work / "m")
        assert _same(g, want_b[0]) and _same(d, want_b[1])
        assert sorted(p.name for p in work.iterdir()) == ["m"], list(work.iterdir())
        assert not [p for p in (work / "m").iterdir() if p.name.startswith(".")]
    assert outcomes == {"old", "new"}


def test_export_onnx_copy_validates_first_and_leaves_nothing_on_failure(tiny_model_dir, tmp_path, capsys):
    """``export MODEL_DIR --onnx`` of a folder whose weights are broken: one line, exit 2, and no folder."""
    from autopainter.cli import main
    from autopainter.models.io import WEIGHTS_NAME

    src = tmp_path / "src"
    shutil.copytree(tiny_model_dir, src)
    (src / WEIGHTS_NAME).write_bytes((src / WEIGHTS_NAME).read_bytes()[:100])
    assert main(["export", str(src), "-o", str(tmp_path / "out"), "--onnx"]) == 2
    assert "model.safetensors" in _one_line_error(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


# ------------------------------------------------------------------------------ 3. the trained record
def _model_with(tiny_model_dir, tmp_path, **changes) -> Path:
    from autopainter.models.io import CONFIG_NAME

    out = tmp_path / "bad-model"
    shutil.copytree(tiny_model_dir, out)
    meta = json.loads((out / CONFIG_NAME).read_text())
    meta.update(changes)
    (out / CONFIG_NAME).write_text(json.dumps(meta))
    return out


@pytest.mark.parametrize("trained", [{"total_steps": [1]}, {"step": -3}, {"before": {"images": 1.5}}, "x"])
def test_bad_trained_record_is_refused_on_load(tiny_model_dir, tmp_path, trained):
    from autopainter.models.io import ModelFileError, model_info

    folder = _model_with(tiny_model_dir, tmp_path, trained=trained)
    with pytest.raises(ModelFileError, match="trained"):
        model_info(folder)


def test_infinity_in_config_json_is_refused(tiny_model_dir, tmp_path):
    from autopainter.models.io import CONFIG_NAME, ModelFileError, model_info

    folder = _model_with(tiny_model_dir, tmp_path)
    text = (folder / CONFIG_NAME).read_text().replace("{", '{"trained": {"total_steps": Infinity}, ', 1)
    (folder / CONFIG_NAME).write_text(text)
    with pytest.raises(ModelFileError, match="trained.total_steps must be a whole number >= 0, got inf"):
        model_info(folder)


def test_init_from_with_a_bad_trained_record_is_one_line(tiny_model_dir, pairs_dir, tmp_path, capsys):
    from autopainter.cli import main
    from conftest import REPO

    folder = _model_with(tiny_model_dir, tmp_path, trained={"total_steps": [1]})
    code = main(["train", "--config", str(REPO / "configs" / "tiny.yaml"), "--data", str(pairs_dir), "-q",
                 "--set", f"train.runs_dir={tmp_path / 'runs'}", "--set", f"train.init_from={folder}",
                 "--set", "model.norm=group"])
    assert code == 2 and "trained.total_steps" in _one_line_error(capsys)


@pytest.mark.slow  # trains a step first (about 3 s)
def test_export_does_not_trust_a_bad_record_in_the_checkpoint(pairs_dir, tiny_overrides, tmp_path):
    from autopainter.models.io import read_model_config
    from autopainter.training.checkpoint import load_state, save_state
    from autopainter.training.export import export
    from autopainter.training.loop import train

    run = train(tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=1"), progress=False)
    state = load_state(run)
    state["init_trained"] = {"total_steps": [1], "images": float("inf")}
    save_state(run, state)
    with pytest.warns(UserWarning, match="earlier stages"):
        t = read_model_config(export(run, tmp_path / "m"))["trained"]
    assert t["total_steps"] == 1 and t["total_images"] == t["images"] and "before" not in t


# ------------------------------------------------------------------------------ 4. deep JSON
DEEP = "[" * 200_000 + "]" * 200_000


def test_deeply_nested_config_json_is_one_line_in_colorize(tiny_model_dir, tmp_path, capsys):
    from PIL import Image

    from autopainter.cli import main
    from autopainter.models.io import CONFIG_NAME

    folder = _model_with(tiny_model_dir, tmp_path)
    text = (folder / CONFIG_NAME).read_text().replace("{", '{"deep": ' + DEEP + ", ", 1)
    (folder / CONFIG_NAME).write_text(text)
    Image.new("L", (32, 32), 255).save(tmp_path / "s.png")
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "o.png"), "--model", str(folder)]) == 2
    assert "nested too deeply" in _one_line_error(capsys)


def test_deeply_nested_discriminator_metadata_is_a_model_file_error(tiny_model_dir, tmp_path):
    from safetensors.torch import save_file

    from autopainter.models.io import D_FORMAT, DISCRIMINATOR_NAME, ModelFileError, load_discriminator

    folder = _model_with(tiny_model_dir, tmp_path)
    save_file({"w": torch.zeros(2)}, str(folder / DISCRIMINATOR_NAME), metadata={"format": D_FORMAT, "discriminator": DEEP})
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load_discriminator(folder)


# ------------------------------------------------------------------------------ 6. NaN, Inf, integer weights
def _with_weights(tiny_model_dir, tmp_path, change) -> Path:
    from safetensors.torch import load_file, save_file

    from autopainter.models.io import WEIGHTS_NAME

    folder = _model_with(tiny_model_dir, tmp_path)
    state = load_file(str(folder / WEIGHTS_NAME))
    key = next(k for k, v in state.items() if v.is_floating_point() and v.dim() == 4)
    state[key] = change(state[key])
    save_file(state, str(folder / WEIGHTS_NAME), metadata={"format": "autopainter-generator"})
    return folder


@pytest.mark.parametrize("change, words", [
    (lambda v: v.clone().fill_(float("nan")), "not finite"),
    (lambda v: torch.where(v > 0, torch.tensor(float("inf"), dtype=v.dtype), v), "not finite"),
    (lambda v: v.to(torch.int32), "int32"),
], ids=["nan", "inf", "int"])
def test_non_finite_or_integer_weights_are_refused(tiny_model_dir, tmp_path, capsys, change, words):
    from PIL import Image

    from autopainter.cli import main

    folder = _with_weights(tiny_model_dir, tmp_path, change)
    Image.new("L", (32, 32), 255).save(tmp_path / "s.png")
    assert main(["colorize", str(tmp_path / "s.png"), "-o", str(tmp_path / "o.png"), "--model", str(folder)]) == 2
    assert words in _one_line_error(capsys)
    assert not (tmp_path / "o.png").exists()


def test_training_stops_on_non_finite_losses(pairs_dir, tiny_overrides, monkeypatch):
    from autopainter.training import loop
    from autopainter.training.checkpoint import checkpoint_path

    real = loop.train_step

    def poisoned(models, cfg, batch, step):
        if step == 1:  # the weights go bad (as from a NaN model folder or a diverging run)
            with torch.no_grad():
                next(loop.unwrap(models.G).parameters()).fill_(float("nan"))
        return real(models, cfg, batch, step)

    monkeypatch.setattr(loop, "train_step", poisoned)
    cfg = tiny_config(pairs_dir, *tiny_overrides, "train.max_steps=6")
    with pytest.raises(ValueError, match="not finite"):
        loop.train(cfg, progress=False)
    run = next(Path(cfg.train.runs_dir).iterdir())
    assert not checkpoint_path(run).exists()  # no state with NaN weights is saved


# ------------------------------------------------------------------------------ 5. redirects to non-URLs
class _BadRedirect(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.send_response(302)
        self.send_header("Location", {"/backslash": "http:\\\\host/", "/bare": "http:x"}[self.path])
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def bad_redirects():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _BadRedirect)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("path", ["/backslash", "/bare"])
def test_redirect_to_a_non_url_is_400(bad_redirects, tiny_model_dir, tmp_path, path):
    from fastapi.testclient import TestClient

    from autopainter.server import ServerSettings, create_app
    from autopainter.server.fetch import FetchPolicy

    settings = ServerSettings(model_dir=tiny_model_dir, data_dir=tmp_path / "data", allowed_hosts=("testserver",),
                              fetch=FetchPolicy(timeout_s=2.0, allow=("127.0.0.1/32",)))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/fetch", data={"url": bad_redirects + path})
    assert r.status_code == 400, r.text
    assert r.json() == {"error": "redirect: not a valid URL"}


# ------------------------------------------------------------------------------ 7. the smaller items
@pytest.mark.parametrize("kind", ["dir", "dev-zero"])
def test_init_from_discriminator_that_is_not_a_file_is_an_error(tiny_model_dir, tmp_path, kind):
    from autopainter.models.io import DISCRIMINATOR_NAME, ModelFileError, load_discriminator

    folder = _model_with(tiny_model_dir, tmp_path)
    if kind == "dir":
        (folder / DISCRIMINATOR_NAME).mkdir()
    else:
        (folder / DISCRIMINATOR_NAME).symlink_to("/dev/zero")
    with pytest.raises(ModelFileError, match="not a regular file"):
        load_discriminator(folder)


# ------------------------------------------------------------------------------ 1. SIGTERM with work in flight
_BUSY_SERVER = textwrap.dedent('''
    import socket, sys, time
    import anyio
    from autopainter.server.connections import run_server
    from autopainter.server.settings import ServerSettings

    async def app(scope, receive, send):
        assert scope["type"] == "http"
        print("busy", flush=True)
        await anyio.to_thread.run_sync(time.sleep, 60)  # a request whose work cannot be cancelled
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    run_server(app, ServerSettings(shutdown_timeout_s=float(sys.argv[1])), sockets=[sock], lifespan="off",
               log_level="warning")
''')


def _busy_server_stops(tmp_path, deadline: float, extra_args=()) -> tuple[int, float, str]:
    """Start a server, send it a 60 s request, SIGTERM it: (exit code, seconds it took to stop, stderr)."""
    import signal
    import socket

    script = tmp_path / "busy_server.py"
    script.write_text(_BUSY_SERVER)
    proc = subprocess.Popen([sys.executable, str(script), str(deadline)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        for _ in range(100):
            try:
                s = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert proc.stdout.readline().strip() == "busy"
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
        return code, time.monotonic() - t0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigterm_stops_a_busy_server_by_its_deadline(tmp_path):
    code, took, err = _busy_server_stops(tmp_path, 0.5)
    assert code == 143, err
    assert took < 0.5 + 1.0 + 1.5, took  # the deadline, the grace for cancelled work, slack for a slow machine
    assert "autopainter: error: requests still running 0.5 s after the signal to stop" in err and "Traceback" not in err


def test_shutdown_timeout_option_is_checked(capsys):
    from autopainter.cli import main

    assert main(["serve", "--shutdown-timeout", "0"]) == 2
    assert "shutdown_timeout_s" in _one_line_error(capsys)


# ------------------------------------------------------------------------------ 7. evaluate
@pytest.fixture
def test_split(pairs_dir, tmp_path) -> Path:
    (tmp_path / "evalset" / "test").mkdir(parents=True)
    for p in sorted(pairs_dir.glob("*.png"))[:2]:
        shutil.copy(p, tmp_path / "evalset" / "test" / p.name)
    return tmp_path / "evalset"


def test_evaluate_negative_seed_names_the_seed(tiny_model_dir, test_split, tmp_path, capsys):
    from autopainter.cli import main

    code = main(["evaluate", "--model", str(tiny_model_dir), "--data", str(test_split), "--seed", "-1",
                 "-o", str(tmp_path / "o"), "-q"])
    assert code == 2 and "--seed" in _one_line_error(capsys)


def test_evaluate_keeps_only_thumbnails_for_its_figure(tiny_model_dir, test_split, tmp_path, monkeypatch, tiny_features):
    from autopainter import evaluate as ev

    seen = []
    real_grid = ev._grid
    monkeypatch.setattr(ev, "_grid", lambda rows, *a, **k: seen.extend(rows) or real_grid(rows, *a, **k))
    monkeypatch.setattr(ev, "GRID_CELL", 16)
    ev.evaluate(tiny_model_dir, test_split, out_dir=tmp_path / "o", limit=2, size=64, examples=2,
                feature_net=tiny_features, fd_size=32)
    assert seen and all(max(im.size) <= 16 for row in seen for im in row), [im.size for row in seen for im in row]


# ------------------------------------------------------------------------------ 7. the CLI's output
def test_warnings_are_one_autopainter_line(tmp_path, capsys):
    import warnings

    from autopainter.cli import _run

    class Args:
        command = "x"

        @staticmethod
        def func(args):
            warnings.warn("something odd\nsecond line")
            return 0

    assert _run(Args()) == 0
    err = capsys.readouterr().err
    assert err == "autopainter: warning: something odd second line\n", err


def test_non_utf8_file_names_under_a_strict_utf8_stdout(tiny_model_dir, tmp_path):
    """A file name that is not UTF-8 is printed escaped, not a UnicodeEncodeError after the file was written."""
    from PIL import Image

    src = os.fsencode(tmp_path) + b"/sk\xe9tch.png"
    Image.new("L", (32, 32), 255).save(src.decode("utf-8", "surrogateescape"))
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    r = subprocess.run([sys.executable, "-m", "autopainter", "sketchify", src.decode("utf-8", "surrogateescape"),
                        "-o", str(out)], env=env, capture_output=True)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    assert b"Traceback" not in r.stderr and (b"\\udce9" in r.stdout or b"\\xe9" in r.stdout), r.stdout


# ------------------------------------------------------------------------------ 7. request heads over 16 KB
_QUICK_SERVER = textwrap.dedent('''
    import socket
    from autopainter.server.connections import run_server
    from autopainter.server.settings import ServerSettings

    async def app(scope, receive, send):
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    run_server(app, ServerSettings(), sockets=[sock], lifespan="off", log_level="warning")
''')


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory):
    script = tmp_path_factory.mktemp("quick") / "quick_server.py"
    script.write_text(_QUICK_SERVER)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("size", [8_000, 20_000, 300_000, 10_000_000])
def test_request_heads_over_16_kb_get_400_that_arrives(quick_server, size):
    import socket

    head = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"a" * size + b"\r\n\r\n"
    for _ in range(100):
        try:
            s = socket.create_connection(("127.0.0.1", quick_server), timeout=10)
            break
        except OSError:
            time.sleep(0.05)
    with s:
        sender = threading.Thread(target=lambda: _send_quietly(s, head), daemon=True)
        sender.start()  # the server answers while the client still sends (10 MB)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and (data.startswith(b"HTTP/1.1 200") or data.endswith(b"}")):
                break
    status = int(data.split(b" ", 2)[1])
    assert status == (200 if size < 16_000 else 400), data[:200]
    if status == 400:
        assert data.endswith(b'{"error": "request head larger than 16 KB"}')


def _send_quietly(s, data: bytes) -> None:
    try:
        s.sendall(data)
    except OSError:
        pass
