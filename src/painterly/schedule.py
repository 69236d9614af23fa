"""Quality presets and the coarse-to-fine schedule they give: how many scales, and the iterations
of each.
"""

from __future__ import annotations

import math

# quality preset -> (iterations at the final scale, at the scale PEAK_STEP below it); scales further
# from that peak get fewer, by COARSE_DECAY per step. Most of the time goes to the final scale, where
# the strokes form; the coarse scales only settle layout and colour.
# Measured at 512x384 (bf16, 2-core AVX-512-bf16 EPYC, benchmarks/quality.py's pairs, fp32 objective of
# the saved image at 512 px) once each scale's first L-BFGS step was sized (optimize.FIRST_STEP_RMS)
# and the Gram products ran in bf16: (16, 10) 0.93 / 0.72 (Tubingen + Starry Night / + Scream) in
# ~12.5 s of run; (12, 8) 1.01 / 0.79; (10, 10) 1.09 / 0.81 in ~9.5 s; the old draft (16, 10) before
# those fixes 1.20 / 0.93 in ~15 s. Draft (10, 8) keeps the whole command near 12 s.
PRESETS: dict[str, tuple[int, int]] = {
    "draft": (10, 8),
    "balanced": (32, 16),
    "best": (100, 40),
}
COARSE_DECAY = 0.7
PEAK_STEP = 4  # scales below the final that get the coarse count: 128 px of a 512 px run
MIN_ITERATIONS = 4  # the fewest a scale gets; also what a print's scales between 512 px and its final get
SINGLE_SCALE_ITERATIONS = 300
START_SIZE = 128
LAYOUT_SIZE = 512


def scale_schedule(
    size: int, scales: int, quality: str, iterations: int, coarse_iterations: int
) -> list[tuple[float, int]]:
    """(fraction of the final size, iterations) per scale, coarse to fine, growing by sqrt(2), for
    settings of these values (0: automatic, as in ``Settings``).

    A scale's iterations depend on how many steps it lies below the final one (PEAK_STEP below gets
    the coarse count, fewer each step nearer to or further from the final), except that an image
    larger than LAYOUT_SIZE (by a quarter step) starts with a whole LAYOUT_SIZE run's schedule, so
    its layout is as settled as that run's (without it a print's layout had 4 evaluations at 512 px:
    an 8192 px draft downsampled to 512 px scored 1.578, with it 1.442, the 512 px draft 1.216).
    Its scales between that run and the final one get MIN_ITERATIONS: they carry the picture up to
    the final scale, which forms the strokes; more only restyled the band just above the layout
    (Tubingen + Starry Night, objective at 512 px of the print downsampled, against the 512 px run's
    1.109 draft / 0.766 balanced: 4096 px draft 1.141 -> 1.096 (8.2 min, 9.9-10.3 before), 2048 px draft
    1.125 -> 1.108, 2048 px balanced 0.853 -> 0.826; full-size crops alike, the sky's mid-sized
    strokes a little softer).
    """
    final_iters, coarse_iters = PRESETS[quality]
    n = scales or automatic_scales(size)
    final = iterations or final_iters
    coarse = coarse_iterations or coarse_iters

    def below(steps: int) -> int:
        return max(MIN_ITERATIONS, round(coarse * COARSE_DECAY ** abs(PEAK_STEP - steps)))

    layout = LAYOUT_SIZE if layout_scales(size, scales) else 0
    if layout:
        # A print's scales up to LAYOUT_SIZE are a LAYOUT_SIZE run's (the preset's, whatever the final
        # scale's count), so its layout is as settled as that run's before the finer scales (which only
        # form strokes) begin. From a quarter step above it: just above, the two would nearly repeat.
        head = scale_schedule(layout, 0, quality, 0, coarse_iterations)
        steps = math.ceil(math.log(size / layout, math.sqrt(2)) - 1e-9)  # each at most sqrt(2) larger
        tail = [((layout / size) ** (1 - j / steps), MIN_ITERATIONS) for j in range(1, steps)]
        return [(f * layout / size, k) for f, k in head] + tail + [(1.0, final)]
    if n == 1:
        # Asked for: one long run. Automatic (a small image): no more pixel-iterations than the
        # two-scale plan of the next size up, whose coarse scale has half the pixels.
        auto = final + below(1) // 2
        return [(1.0, iterations or (SINGLE_SCALE_ITERATIONS if scales == 1 else auto))]
    return [(math.sqrt(2) ** -(n - 1 - i), below(n - 1 - i)) for i in range(n - 1)] + [(1.0, final)]


def layout_scales(size: int, scales: int) -> int:
    """How many of the first scales of ``size``'s schedule are a whole LAYOUT_SIZE run's (0: none):
    a print of automatic scales from a quarter step above LAYOUT_SIZE (``painterly.layout`` keeps
    the last one's layout through the finer scales)."""
    if scales or size < LAYOUT_SIZE * 2**0.25:
        return 0
    return automatic_scales(LAYOUT_SIZE)


def automatic_scales(size: int) -> int:
    """Scales of an automatic schedule: from START_SIZE up by sqrt(2) steps."""
    return max(1, 1 + math.floor(math.log(max(size, 1) / START_SIZE, math.sqrt(2)) + 1e-9))
