from pathlib import Path

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
