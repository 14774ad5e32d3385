"""Makes the built-in photographs in this folder from the colour Kodak PNGs.

Each image is decoded as sRGB, turned into linear light, weighted into Rec. 709 luminance
(0.2126 R + 0.7152 G + 0.0722 B, the same luminance `simplecell extract` computes), encoded
back to sRGB and rounded to 8 bits, so that extract's own decoding of the grey PNG gives
nearly the same linear luminance as decoding the colour original.

usage: python3 convert.py SRC_DIR OUT_DIR   (needs pillow and numpy)
"""
import sys

import numpy as np
from PIL import Image

# Subset chosen by measured Gabor-fit fraction of the learned atoms (see README.md here).
NAMES = ["kodim01", "kodim05", "kodim08", "kodim13", "kodim19", "kodim21"]


def to_linear(c):
    c = c / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def to_srgb(lin):
    lin = np.clip(lin, 0.0, 1.0)
    return np.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055)


def main(src, out):
    for name in NAMES:
        rgb = np.asarray(Image.open(f"{src}/{name}.png").convert("RGB")).astype(np.float64)
        lum = 0.2126 * to_linear(rgb[..., 0]) + 0.7152 * to_linear(rgb[..., 1]) \
            + 0.0722 * to_linear(rgb[..., 2])
        grey = np.round(to_srgb(lum) * 255.0).astype(np.uint8)
        Image.fromarray(grey, "L").save(f"{out}/{name}.png", optimize=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
