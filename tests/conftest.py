import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

# Tests run on tiny models: one thread each keeps them fast and repeatable on small CI machines.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_tmp_cwd(tmp_path, monkeypatch):
    """Each test runs in its own folder, so default paths (runs/) never touch the checkout."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def pairs_dir(tmp_path_factory) -> Path:
    """20 generated 64x64 sketch/color pairs in the Kaggle side-by-side layout (color left, sketch right)."""
    from autopainter.data.synthetic import make_synthetic_pairs

    return make_synthetic_pairs(tmp_path_factory.mktemp("pairs"), n=20, size=64, seed=0)


@pytest.fixture
def tiny_overrides(tmp_path) -> list[str]:
    return [f"train.runs_dir={tmp_path / 'runs'}", "train.log_every=1"]


def tiny_config(data: Path, *overrides: str):
    from autopainter.config import Config

    return Config.load(REPO / "configs" / "tiny.yaml", [f"data.path={data}", *overrides])


def train_until_signal(monkeypatch, cfg, stop_at: int) -> Path:
    """Train ``cfg`` with SIGTERM raised in the middle of step ``stop_at`` (as Ctrl-C or a scheduler would):
    the run finishes that step, saves and stops. Returns the run folder (the only one in its runs_dir)."""
    import signal

    import autopainter.training.loop as loop

    real_step, calls = loop.train_step, {"n": 0}

    def step_then_signal(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == stop_at:
            signal.raise_signal(signal.SIGTERM)
        return real_step(*args, **kwargs)

    monkeypatch.setattr(loop, "train_step", step_then_signal)
    with pytest.raises(KeyboardInterrupt):
        loop.train(cfg, progress=False)
    monkeypatch.setattr(loop, "train_step", real_step)
    return next(Path(cfg.train.runs_dir).iterdir())


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A model folder (config.json + model.safetensors) holding the tiny generator the inference tests use,
    with random weights: for the web app and anything else that loads a model by folder."""
    from autopainter.config import GeneratorConfig
    from autopainter.models.io import save_pretrained
    from autopainter.models.unet import build_generator

    torch.manual_seed(0)
    gen = build_generator(GeneratorConfig(ngf=8, depth=4, norm="group", dropout=0.0))
    return save_pretrained(gen, tmp_path_factory.mktemp("tiny-model") / "model", image_size=32)


class TinyFeatures(torch.nn.Module):
    """A stand-in for EfficientNet-Lite0 in FD (``evaluate(..., feature_net=)``): 8 fixed random 3x3 filters
    (stride 4), ReLU, mean-pooled, so that FD's sqrtm works on an 8 x 8 covariance, not 1280 x 1280 (seconds)."""

    description = "tiny test features, 8-d"

    def __init__(self):
        super().__init__()
        self.register_buffer("weight", torch.randn(8, 3, 3, 3, generator=torch.Generator().manual_seed(0)))

    def pooled(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, S, S) in [-1, 1] -> (B, 8)
        return torch.relu(torch.nn.functional.conv2d(x, self.weight, stride=4)).mean(dim=(2, 3))


@pytest.fixture
def tiny_features(monkeypatch) -> TinyFeatures:
    """A TinyFeatures, also put in place of evaluate's default network (for the CLI, which cannot pass one)."""
    import autopainter.evaluate

    net = TinyFeatures()
    monkeypatch.setattr(autopainter.evaluate, "default_feature_net", lambda: net)
    return net


# ------------------------------------------------------------------ the page in a browser (test_browser, test_page_tools)
CHROMIUM = os.environ.get("AUTOPAINTER_CHROMIUM", "/usr/bin/chromium")


# Module scope, not session: the server's and the browser's threads must be gone before tests that measure the
# process (tracemalloc in test_server_guard) run.
def serve_app(settings):
    """uvicorn serving ``create_app(settings)`` on a free port in a thread, with the connection rules of
    ``autopainter serve``: a generator yielding its base URL, then stopping it."""
    import uvicorn

    from autopainter.server import create_app
    from autopainter.server.connections import uvicorn_config

    app = create_app(settings)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, settings, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the uvicorn test server did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture(scope="module")
def live_server(tiny_model_dir, tmp_path_factory):
    """The app serving the tiny model (``serve_app``): its base URL."""
    from autopainter.server import ServerSettings

    yield from serve_app(ServerSettings(model_dir=tiny_model_dir, data_dir=tmp_path_factory.mktemp("server-data")))


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium under Playwright (headless); a failure with the fix when either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("the browser test needs Playwright: pip install -e '.[dev]' (or make install-dev)")
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.fail(f"the browser test needs chromium at {CHROMIUM}: apt-get install chromium "
                    "(make install-dev does it as root), or point AUTOPAINTER_CHROMIUM at a Chromium binary")
    args = ["--disable-dev-shm-usage", "--disable-gpu"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--no-sandbox")  # chromium refuses to run its sandbox as root
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=args, headless=True)
        yield b
        b.close()


def draw_shapes(path: Path, size: tuple[int, int] = (1200, 800)) -> Path:
    """Line art of a circle and a square, each a closed region, at ``size`` (3:2; drawn for 1200x800 and
    scaled), saved as ``path``."""
    from PIL import Image, ImageDraw

    s = size[0] / 1200
    img = Image.new("L", size, 255)
    d = ImageDraw.Draw(img)
    width = max(4, round(6 * s))
    d.ellipse([round(v * s) for v in (100, 100, 600, 700)], outline=0, width=width)
    d.rectangle([round(v * s) for v in (700, 150, 1100, 650)], outline=0, width=width)
    img.save(path)
    return path


DESKTOP = {"viewport": {"width": 1280, "height": 900}}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}


@pytest.fixture
def open_page(browser, live_server):
    yield from page_opener(browser, live_server)


def page_opener(browser, live_server):
    """open_page(sketch=None, live=True, init_script=None, **context options) -> a page of the app (in a browser
    context of its own: empty storage), the sketch loaded. ``init_script`` runs before the page's own scripts.
    Script errors on any page fail the test."""
    contexts, errors = [], []

    def open_(sketch=None, live=True, init_script=None, **options):
        ctx = browser.new_context(**(options or DESKTOP))
        contexts.append(ctx)
        page = ctx.new_page()
        page.add_init_script(RECORD_FORMS)
        if init_script:
            page.add_init_script(init_script)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live_server + "/")
        if not live:
            page.click("#live-toggle")
        if sketch:
            page.set_input_files("#file-input", str(sketch))
            page.wait_for_function("() => document.getElementById('sketch-img').naturalWidth > 0")
        return page

    yield open_
    for ctx in contexts:
        ctx.close()
    assert errors == []


def save_screenshot(page, tmp_path: Path, name: str, full_page: bool = True) -> Path:
    """A screenshot in the test's tmp folder, copied into ``$AUTOPAINTER_SCREENSHOT_DIR`` when that is set."""
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=full_page)
    extra = os.environ.get("AUTOPAINTER_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(extra) / name)
    return path


def painted_pixels(page) -> int:
    """How many pixels of the page's hint layer are hints (alpha at the server's threshold or above)."""
    return page.evaluate("""() => {
        const c = document.getElementById('hint-canvas');
        const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < a.length; i += 4) if (a[i] >= 128) n++;
        return n;
    }""")


def paint_stroke(page, points, selector="#hint-canvas"):
    """A mouse stroke through ``points``, fractions (x, y) of the element's box on screen."""
    box = page.locator(selector).bounding_box()
    (x0, y0), rest = points[0], points[1:]
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for x, y in rest:
        page.mouse.move(box["x"] + x * box["width"], box["y"] + y * box["height"], steps=8)
    page.mouse.up()


def wait_result_current(page, timeout=20_000):
    """Wait until the result on show is loaded and made from what the page shows now (hints, style)."""
    page.wait_for_function("""() => {
        const r = document.getElementById('result-img'), job = window.autopainter.recolor.describe();
        return r.dataset.ready === '1' && job && r.dataset.key === job.key;
    }""", timeout=timeout)


# Records the form fields of every fetch() the page makes (CDP does not show multipart bodies with files).
RECORD_FORMS = """
window.__forms = [];
const _fetch = window.fetch;
window.fetch = (url, opts) => {
  if (opts && opts.body instanceof FormData) {
    window.__forms.push([String(url), [...opts.body.keys()]]);
    window.__styles = [...(window.__styles || []), opts.body.get("style")];
    window.__lastHints = opts.body.get("hints");
  }
  return _fetch(url, opts);
};
"""


def plain_result(image):
    """A ``ColorizeResult`` holding just ``image`` (blank lines): what a fake colorizer's ``colorize`` returns."""
    from autopainter.inference.colorizer import ColorizeResult

    return ColorizeResult(image=image, color=image, sketch=np.full(image.size[::-1], 255, np.uint8))


# the page served with the bundled model (the locality and phone page tests)
@pytest.fixture(scope="module")
def bundled_server(tmp_path_factory):
    from autopainter.server import ServerSettings

    yield from serve_app(ServerSettings(data_dir=tmp_path_factory.mktemp("server-data")))


@pytest.fixture
def open_bundled(browser, bundled_server):
    yield from page_opener(browser, bundled_server)
