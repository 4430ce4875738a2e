"""Write the bad-input corpus (tests/corpus/generate.py) to a folder for manual testing.

    python scripts/make_corpus.py [OUT_DIR]      # default: artifacts/corpus (git-ignored)

Every case gets a sub-folder named by its id; ``manifest.json`` lists each file with the
outcome the app owes it. Drop the files on the app's pages, or run
``python -m genrecls predict --json OUT_DIR/*/*``. The tests generate the same corpus
into a temporary folder, so nothing here is committed.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from genrecls.config import Limits  # noqa: E402
from tests.corpus.generate import CASES, Context, generate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "artifacts" / "corpus"))
    args = parser.parse_args()
    limits = Limits.from_env()
    ctx = Context(
        max_upload_bytes=limits.max_upload_bytes,
        max_zip_entries=limits.max_zip_entries,
        max_zip_uncompressed_bytes=limits.max_zip_uncompressed_bytes,
    )
    start = time.perf_counter()
    written = generate(args.out, ctx=ctx)
    outcomes = Counter(case.expected for case, _ in written)
    print(
        f"wrote {len(written)} of {len(CASES)} cases to {args.out} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    for outcome, n in sorted(outcomes.items()):
        print(f"  {n:3d}  {outcome}")
    missing = [c.id for c in CASES if c.id not in {w.id for w, _ in written}]
    if missing:
        print(f"skipped (tool missing): {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
