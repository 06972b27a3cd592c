"""``python -m foleycache.fingerprint.match A B [--json]``: would A be served B's soundtrack?"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from foleycache.fingerprint.compare import match_files


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    result = match_files(args.a, args.b)
    if args.json:
        print(json.dumps(result))
    else:
        verdict = "SAME" if result["same"] else "different"
        h, s = result["hamming"], result["similarity"]
        print(f"{verdict}: hamming={h} similarity={s} ({result['reason']})")


if __name__ == "__main__":
    main()
