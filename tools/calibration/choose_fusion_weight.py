"""Choose SFace's weight in the fused score, on the calibration photos.

The fused score is w * cos_sface + (1 - w) * cos_dlib. This script reads the
pair scores that `calibrate_sface.py --scores` wrote for each embedder (the
same images, so the same pairs in the same order), sweeps w over a grid, and
prints for each w the true-accept rate at the strictest false-accept rates the
photos can vouch for. The chosen w is the one with the fewest genuine pairs
refused at FAR 1e-4, ties broken at the strictest FAR (no impostor accepted),
then by the larger gap between that threshold and the weakest genuine pair
above it (the margin the threshold has).

    python3 tools/calibration/choose_fusion_weight.py sface.npz dlib.npz

LFW is not looked at: it is where the fused embedder is reported.
"""
import argparse
import sys

import numpy as np


def refused_at(genuine, impostor, far):
    """Genuine pairs below the smallest threshold keeping FAR <= far."""
    allowed = int(np.floor(far * len(impostor)))
    ranked = np.sort(impostor)[::-1]
    # Accept strictly above the (allowed+1)-th highest impostor score.
    threshold = ranked[allowed] if allowed < len(ranked) else -1.0
    return int(np.sum(genuine <= threshold)), float(threshold)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('sface')
    ap.add_argument('dlib')
    ap.add_argument('--step', type=float, default=0.05)
    args = ap.parse_args()
    s, d = np.load(args.sface), np.load(args.dlib)
    if s['genuine'].shape != d['genuine'].shape or s['impostor'].shape != d['impostor'].shape:
        sys.exit('the two score files do not hold the same pairs')
    genuine_pairs, impostor_pairs = len(s['genuine']), len(s['impostor'])
    print(f'{genuine_pairs} genuine, {impostor_pairs} impostor pairs')
    print('    w  refused@1e-4  refused@1e-5  strictest gap')
    rows = []
    for w in np.round(np.arange(0.0, 1.0 + 1e-9, args.step), 4):
        gen = w * s['genuine'] + (1 - w) * d['genuine']
        imp = w * s['impostor'] + (1 - w) * d['impostor']
        r4, _ = refused_at(gen, imp, 1e-4)
        r5, t5 = refused_at(gen, imp, 1.0 / impostor_pairs)
        gap = float(np.min(gen[gen > t5]) - t5) if np.any(gen > t5) else 0.0
        rows.append((w, r4, r5, gap))
        print(f' {w:4.2f}  {r4:12d}  {r5:12d}  {gap:13.4f}')
    best = min(rows, key=lambda r: (r[1], r[2], -r[3]))
    tied = [r[0] for r in rows if r[1:3] == best[1:3]]
    print(f'chosen: w = {best[0]:.2f} (tied on refusals: {tied})')


if __name__ == '__main__':
    main()
