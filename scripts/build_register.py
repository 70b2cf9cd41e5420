"""Rebuild the built-in GP practice register from an ODS epraccur extract.

    python scripts/build_register.py [--source ../shared/data/ods/epraccur.csv] [--as-of 2020-01-01]

Keeps every row (any status) whose commissioner is 15C (BNSSG), 11X (Somerset) or 11E (B&NES
at the time of the extract) and whose prescribing setting is 4 (GP practice), byte for byte,
so a closed practice is known to be closed rather than unknown. Writes
recnav_rules/policies/data/gp_practices.csv and gp_practices.meta.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
from pathlib import Path

KEEP = {"15C": "BNSSG", "11X": "Somerset", "11E": "Bath and North East Somerset (at the time)"}
OUT = Path(__file__).resolve().parent.parent / "recnav_rules" / "policies" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="../shared/data/ods/epraccur.csv")
    parser.add_argument("--as-of", default="2020-01-01", help="the extract's publication date")
    args = parser.parse_args()
    raw = Path(args.source).read_bytes()
    text = raw.decode("utf-8", errors="strict") if raw.isascii() else raw.decode("latin-1")
    kept = [
        line
        for line in text.splitlines(keepends=True)
        if (row := next(csv.reader(io.StringIO(line)), None)) and len(row) == 27 and row[14] in KEEP and row[25] == "4"
    ]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "gp_practices.csv").write_text("".join(kept), encoding="utf-8")
    meta = {
        "name": f"ODS epraccur (GP practices) {args.as_of}, BNSSG/Somerset/B&NES subset",
        "as_of": args.as_of,
        "as_of_note": "The extract was published around January 2020; 1 January 2020 is used as its as-of date.",
        "origin": "NHS Organisation Data Service epraccur national extract, published around January 2020. "
        "Contains public sector information licensed under the Open Government Licence v3.0.",
        "subset": "prescribing setting 4 (GP practice), commissioner " + ", ".join(f"{k} ({v})" for k, v in KEEP.items()) + "; any status",
        "source_sha256": hashlib.sha256(raw).hexdigest(),
        "rows": len(kept),
    }
    (OUT / "gp_practices.meta.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    print(f"kept {len(kept)} practices")


if __name__ == "__main__":
    main()
