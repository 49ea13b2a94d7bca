"""Generator, discriminator, feature extractors and model files."""
