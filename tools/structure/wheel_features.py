#!/usr/bin/env python3
"""Checks that the Python wheel reuses the test build's dependencies.

`maturin build` builds crates/facecmp-py alone, and cargo resolves features
for what one command builds: any dependency the wheel asks fewer features of
than `cargo test --workspace` did is compiled again, and with it everything
above it (8 minutes of CI). crates/facecmp-py/Cargo.toml therefore asks for
the test build's features; this script compares the two resolutions (by
`cargo tree`, nothing is compiled) and names what to add when they differ.

    python3 tools/structure/wheel_features.py    # exit 1 when they differ
"""

import collections
import subprocess
import sys


def resolved(*selection):
    """Each (package, built for the host?) and its feature sets.

    A crate can be built twice, for the target and for the host (build
    scripts, proc macros and what they use), with other features each time:
    the tree's indentation and its `[build-dependencies]` headings say which.
    """
    out = subprocess.run(
        ["cargo", "tree", *selection, "--format", "{p}|{f}"],
        capture_output=True, text=True, check=True,
    ).stdout
    features = collections.defaultdict(set)
    host_below = {}  # depth -> whether the children of the package there are built for the host
    heading = {}  # depth -> the dependency kind heading the lines at that depth
    for line in out.splitlines():
        body = line.lstrip("│├└─ \u00a0")
        depth = (len(line) - len(body)) // 4
        if not body:  # between the trees of two workspace members
            continue
        if body.startswith("["):
            heading[depth] = body
            continue
        heading = {d: kind for d, kind in heading.items() if d <= depth}
        host = (depth > 0 and host_below.get(depth - 1, False)) \
            or heading.get(depth) == "[build-dependencies]" or "(proc-macro)" in body
        package, enabled = body.split("|", 1)
        features[(package.split(" (")[0].strip(), host)].add(enabled.replace("(*)", "").strip())
        host_below[depth] = host
        heading.pop(depth + 1, None)
    return features


def union(feature_sets):
    return ",".join(sorted({f for features in feature_sets for f in features.split(",") if f}))


def main():
    tests = resolved("--workspace", "--edges", "normal,build,dev")
    wheel = resolved("--package", "facecmp-py", "--edges", "normal,build")
    # `cargo tree` may list a crate twice for one kind of build (a member's
    # dev-dependencies resolved apart); the test build compiles the union.
    tests = {key: {union(sets)} for key, sets in tests.items()}
    wheel = {key: {union(sets)} for key, sets in wheel.items()}
    # Each crate of the wheel must be built as the test build built it, features and all.
    stale = {key: sets for key, sets in wheel.items() if sets != tests.get(key)}
    for (package, host), sets in sorted(stale.items()):
        built = "for the host" if host else "for the target"
        print(f"{package}, {built}\n  the wheel: {sorted(sets)}\n  the tests: {sorted(tests.get((package, host), []))}")
    if stale:
        print(
            f"\n{len(stale)} of {len(wheel)} crates of the wheel would be compiled again: add the "
            "test build's features for them to crates/facecmp-py/Cargo.toml "
            "([build-dependencies] for crates built for the host, such as syn)",
            file=sys.stderr,
        )
        return 1
    print(f"the wheel's {len(wheel)} crates are the test build's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
