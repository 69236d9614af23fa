"""Does --protect-faces keep the face and leave the rest of the painting alone?

Stylises the built-in astronaut (defaults, 512 px, Starry Night) with and without face protection and
prints, for each: SSIM to the content inside the detected face box (grey levels, 7x7 Gaussian window),
the style loss outside the faces (painterly's Gram objective with the face ellipses left unstyled) and
the content loss. Writes the face crops (content | off | on) and both outputs under results/portraits/.

    flock /tmp/painterly-heavy.lock python benchmarks/portraits.py [--size 512] [--style starry_night]
"""

from __future__ import annotations

import argparse

import numpy as np
from common import RESULTS as ALL_RESULTS
from common import stopwatch

RESULTS = ALL_RESULTS / "portraits"


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Mean structural similarity of two grey images in [0, 1] (Wang et al. 2004, Gaussian window)."""
    radius = round(3 * sigma)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()

    def gaussian_filter(image: np.ndarray, _sigma: float) -> np.ndarray:
        rows = np.apply_along_axis(np.convolve, 0, image, kernel, mode="valid")
        return np.apply_along_axis(np.convolve, 1, rows, kernel, mode="valid")

    c1, c2 = 0.01**2, 0.03**2
    mu_a, mu_b = gaussian_filter(a, sigma), gaussian_filter(b, sigma)
    var_a = gaussian_filter(a * a, sigma) - mu_a**2
    var_b = gaussian_filter(b * b, sigma) - mu_b**2
    cov = gaussian_filter(a * b, sigma) - mu_a * mu_b
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    return float((num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))).mean())


def gray(image) -> np.ndarray:
    return np.asarray(image.convert("L"), dtype=np.float64) / 255


def main() -> None:
    import torch
    from PIL import Image

    from painterly.engine import Stylizer
    from painterly.images import contact_sheet, demo_content, load_image
    from painterly.portraits import detect_faces, face_terms, face_weights
    from painterly.settings import DEFAULTS, Settings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--style", default="starry_night")
    ap.add_argument("--quality", default="balanced")
    ap.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help="face weights per style weight to compare (default: built-in)",
    )
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    content = load_image(str(demo_content()), "content image")
    style = load_image(args.style, "style image")
    base = Settings(content="astronaut", styles=(args.style,), size=args.size, quality=args.quality)
    scaled = content.resize(Stylizer(base).output_size(content), Image.LANCZOS)
    boxes = detect_faces(content)
    if not boxes:
        raise SystemExit("no face found: is opencv-python-headless<5 installed?")
    w, h = scaled.size
    x, y, bw, bh = boxes[0]
    box = (round(x * w), round(y * h), round((x + bw) * w), round((y + bh) * h))
    # The judge: style loss where the face map is 0 (mask colour 0 styled, faces -1 left unstyled).
    faces = face_weights(boxes, w, h) > 0
    mask = Image.fromarray(np.where(faces, 255, 0).astype(np.uint8)).convert("RGB")
    judge = Stylizer(base.with_(mask="faces", mask_styles=(0, -1))).objective(scaled, [style], mask=mask)
    crops, labels = [scaled.crop(box)], ["content"]
    print(f"astronaut {w}x{h}, {args.style}, {args.quality}; face box {box}")
    print("protect | seconds | SSIM in face box | style outside faces | content | precision")
    for weight in [0.0, *(args.weights or [DEFAULTS.face_weight])]:
        protect = weight > 0
        stylizer = Stylizer(base.with_(protect_faces=protect, face_weight=weight))
        with stopwatch() as sw:
            result = stylizer.run(content, [style], terms=face_terms(stylizer, content))
        seconds = sw.seconds
        out = result.image
        name = f"on {weight:g}" if protect else "off"
        out.save(RESULTS / f"astronaut-{args.style}-{args.size}-{name.replace(' ', '-')}.png")
        with torch.no_grad():
            _, parts = judge(result.tensor.to(stylizer.device))
        score = ssim(gray(out.crop(box)), gray(scaled.crop(box)))
        print(f"{name:7} | {seconds:7.1f} | {score:16.3f} | "
              f"{float(parts['style']):19.4f} | {float(parts['content']):7.3f} | {result.precision}")  # fmt: skip
        crops.append(out.crop(box))
        labels.append(f"{name}: SSIM {score:.2f}")
    crops = [c.resize((256, round(256 * c.height / c.width)), Image.LANCZOS) for c in crops]
    sheet = contact_sheet(crops, labels, columns=len(crops))
    sheet.save(RESULTS / f"astronaut-face-crops-{args.style}-{args.size}.png")
    print(f"crops: {RESULTS / f'astronaut-face-crops-{args.style}-{args.size}.png'}")


if __name__ == "__main__":
    main()
