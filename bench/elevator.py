#!/usr/bin/env python3
"""The elevator measurement of BENCHMARKS.md ("Every appearance decided").

Builds a 1280x720 25 fps clip of 30 three-second scenes with one face each,
as issue #21 describes an elevator camera: the granted person (Obama, from
obama2.jpg / obama3.jpg, never the enrolled obama.jpg) in 8 scenes, an
enrolled person without the grant (Biden) in 6, strangers (faces of
bald_guys.jpg) in 16, in a fixed random order. Every other scene follows the
previous one without a gap (the next person steps into the same frame);
the others after one empty second. Then it runs `facecmp watch --json` and
`facecmp search --gallery --json` on it and scores them per scene.

    bench/elevator.py [--facecmp target/release/facecmp] [--runtime ort] [--out /tmp/elevator]

Needs python3 (standard library only) and the ffmpeg program.
"""

import argparse
import json
import random
import statistics
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SCENE_S, GAP_S, FPS, WIDTH, HEIGHT = 3.0, 1.0, 25, 1280, 720


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs).stdout


def faces(facecmp, photo):
    return json.loads(run([facecmp, "detect", "--json", str(DATA / photo)]))["faces"]


def crop_filter(face, face_px):
    """An ffmpeg crop+scale that cuts the face with a margin and makes it `face_px` wide."""
    box = face["box"]
    side = 1.4 * max(box["width"], box["height"])
    x = max(0.0, box["x"] + box["width"] / 2 - side / 2)
    y = max(0.0, box["y"] + box["height"] / 2 - side / 2)
    scale = face_px / box["width"]
    out = int(side * scale) // 2 * 2
    return f"crop={int(side)}:{int(side)}:{int(x)}:{int(y)},scale={out}:{out}"


def scenes(facecmp, rng):
    obama = [("obama2.jpg", faces(facecmp, "obama2.jpg")[0]), ("obama3.jpg", faces(facecmp, "obama3.jpg")[0])]
    biden = ("biden.jpg", faces(facecmp, "biden.jpg")[0])
    strangers = [("bald_guys.jpg", f) for f in faces(facecmp, "bald_guys.jpg")]
    rng.shuffle(strangers)
    people = (
        [("granted", "Obama", obama[i % 2]) for i in range(8)]
        + [("not_granted", "Biden", biden) for _ in range(6)]
        + [("stranger", None, strangers[i]) for i in range(16)]
    )
    rng.shuffle(people)
    out, time = [], 0.0
    for i, (kind, name, (photo, face)) in enumerate(people):
        if i and i % 2 == 0:
            time += GAP_S
        face_px = rng.randint(90, 140)
        out.append(
            {
                "kind": kind,
                "person": name,
                "photo": photo,
                "crop": crop_filter(face, face_px),
                "face_px": face_px,
                "x": rng.randint(150, WIDTH - 450),
                "y": rng.randint(60, HEIGHT - 360),
                "start": round(time, 2),
                "end": round(time + SCENE_S, 2),
            }
        )
        time += SCENE_S
    return out, time + 1.0


def make_clip(scenes, seconds, path):
    args = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
            f"color=c=0x5a6470:s={WIDTH}x{HEIGHT}:r={FPS}:d={seconds},noise=alls=6:allf=t"]
    graph, last = [], "0"
    for i, scene in enumerate(scenes):
        args += ["-i", str(DATA / scene["photo"])]
        graph.append(f"[{i + 1}]{scene['crop']},loop=loop=-1:size=1[p{i}]")
        # end is exclusive: the next person may appear in the very next frame.
        enable = f"gte(t,{scene['start']})*lt(t,{scene['end']})"
        graph.append(f"[{last}][p{i}]overlay=x={scene['x']}:y={scene['y']}:enable='{enable}'[v{i}]")
        last = f"v{i}"
    args += ["-filter_complex", ";".join(graph), "-map", f"[{last}]", "-t", str(seconds),
             "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(args, check=True)


def gallery(facecmp, db):
    db.unlink(missing_ok=True)
    run([facecmp, "gallery", "init", str(db)])
    run([facecmp, "enroll", "--db", str(db), "--name", "Obama", "--zone", "lift", str(DATA / "obama.jpg")])
    run([facecmp, "enroll", "--db", str(db), "--name", "Biden", str(DATA / "biden.jpg")])


def scene_of(scenes, decision):
    """The scene a decision is about: a deny given when the face left belongs
    to the latest scene that had ended by then, anything else to the scene
    in view (the latest that had started)."""
    time = decision["time"]
    if "left after" in decision.get("detail", ""):
        ended = [i for i, s in enumerate(scenes) if s["end"] <= time + 1e-6]
        return ended[-1] if ended else 0
    started = [i for i, s in enumerate(scenes) if s["start"] <= time + 1e-6]
    return started[-1] if started else 0


def score_watch(scenes, decisions):
    per_scene = [[] for _ in scenes]
    for d in decisions:
        per_scene[scene_of(scenes, d)].append(d)
    granted = [i for i, s in enumerate(scenes) if s["kind"] == "granted"]
    latency = [d[0]["time"] - scenes[i]["start"] for i, d in enumerate(per_scene) if d]
    allow_latency = [d[0]["time"] - scenes[i]["start"] for i, d in enumerate(per_scene) if d and d[0]["allowed"]]
    return {
        "appearances": len(scenes),
        "decided": sum(1 for d in per_scene if d),
        "granted_allowed": sum(1 for i in granted if any(d["allowed"] for d in per_scene[i])),
        "granted_appearances": len(granted),
        "allowed_others": sum(1 for i, d in enumerate(per_scene) if i not in granted and any(x["allowed"] for x in d)),
        "most_decisions_per_appearance": max(len(d) for d in per_scene),
        "latency_median_s": round(statistics.median(latency), 2) if latency else None,
        "latency_worst_s": round(max(latency), 2) if latency else None,
        "allow_latency_median_s": round(statistics.median(allow_latency), 2) if allow_latency else None,
        "allow_latency_worst_s": round(max(allow_latency), 2) if allow_latency else None,
        "reasons": {k: sum(1 for d in decisions if d["reason"] == k) for k in sorted({d["reason"] for d in decisions})},
        "per_scene": [
            {"scene": i, "kind": s["kind"], "start": s["start"],
             "decisions": [(round(d["time"], 2), d["reason"]) for d in per_scene[i]]}
            for i, s in enumerate(scenes)
        ],
    }


def score_search(scenes, appearances):
    found, false, overrun = 0, 0, []
    enrolled = [i for i, s in enumerate(scenes) if s["person"]]
    matched = set()
    for a in appearances:
        overlapping = [i for i, s in enumerate(scenes) if a["start"] < s["end"] and a["end"] >= s["start"]]
        hit = [i for i in overlapping if scenes[i]["person"] == a["target"]]
        if not hit:
            false += 1
            continue
        matched.update(hit)
        overrun.append(round(a["end"] - max(scenes[i]["end"] for i in hit), 2))
    found = len(matched)
    return {"appearances_of_enrolled": len(enrolled), "found": found, "missed": len(enrolled) - found,
            "false": false, "worst_end_past_last_frame_s": max(overrun) if overrun else None}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facecmp", default="target/release/facecmp")
    parser.add_argument("--runtime", default="ort")
    parser.add_argument("--out", default="/tmp/elevator")
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plan, seconds = scenes(args.facecmp, random.Random(args.seed))
    clip = out / "elevator720p25.mp4"
    if not clip.exists():
        make_clip(plan, seconds, clip)
    db = out / "elevator.db"
    gallery(args.facecmp, db)
    base = [args.facecmp, "--runtime", args.runtime]
    watch = run(base + ["watch", str(clip), "--zone", "lift", "--db", str(db), "--json"])
    decisions = [json.loads(line) for line in watch.splitlines()]
    search = run(base + ["search", "--gallery", "--db", str(db), "--json", str(clip)])
    appearances = [json.loads(line) for line in search.splitlines()]
    report = {"clip": str(clip), "seconds": seconds, "runtime": args.runtime,
              "watch": score_watch(plan, decisions), "search": score_search(plan, appearances)}
    json.dump(report, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
