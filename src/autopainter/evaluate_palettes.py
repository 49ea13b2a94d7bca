"""The palettes protocol: ``autopainter evaluate --protocol palettes``. Do the no-hint colors hold per material?

(Being written: the constants below were fixed first, before the part head's training run and before any output
was looked at.)

**Skin check**: the share of true skin pixels whose output lies in a CIELAB range of human skin tones. The range
comes from the characters *train* split's skin pixels (every third pair whose map names skin: 1,148 pairs, 1.44 M
pixels, CIELAB of ``colorspace.lab_8bit``): L* from its 0.5th percentile (20.8, rounded up to 25) to its 99.5th
(92.5, up to 95); hue angle atan2(b*, a*) from 33.0 degrees (1st percentile, down to 30) to 92.0 (99.5th, up to 95);
chroma from 17.5 (1st percentile, down to 12) to 49.4 (99.5th, up to 55). OpenMoji's yellow (#fcea2b: chroma about
80) lies outside it.
"""

from __future__ import annotations

SKIN_L = (25.0, 95.0)  # CIELAB L* of human skin tones (characters train split; module doc)
SKIN_HUE = (30.0, 95.0)  # degrees, atan2(b*, a*)
SKIN_CHROMA = (12.0, 55.0)  # sqrt(a*^2 + b*^2)
