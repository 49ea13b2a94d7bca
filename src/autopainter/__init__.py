"""Auto-Painter: color line art with a conditional GAN guided by optional color hints.

Liu, Y., Qin, Z., Luo, Z., Wang, H. "Auto-painter: Cartoon Image Generation from Sketch by Using
Conditional Generative Adversarial Networks", arXiv:1705.01908 (2017).
"""

__version__ = "0.1.0"

__all__ = ["__version__", "Colorizer"]


def __getattr__(name):  # lazy: `import autopainter` stays light
    if name == "Colorizer":
        from .inference.colorizer import Colorizer

        return Colorizer
    raise AttributeError(name)
