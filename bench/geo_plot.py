"""recipes/geo-plot under AWS's RIE, as in BENCHMARKS.md ("geo-plot"): for each image, --rounds
fresh functions, each one invoke of events/01-berlin-utm.json (RIE's first REPORT line: Init
Duration and Duration), then bench.under_rie.measure_round's warm round trips (every answer
must be the event file's expected response).

    .venv/bin/python bench/geo_plot.py IMAGE [IMAGE ...] [--rounds 3] [--invokes 10]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.under_rie import measure_round
from rlambda.local.aws_rie.function import AwsRie

EVENT_FILE = Path(__file__).resolve().parents[1] / "recipes/geo-plot/events/01-berlin-utm.json"
MEMORY_MB = 1024


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--invokes", type=int, default=10)
    args = parser.parse_args(argv)
    doc = json.loads(EVENT_FILE.read_text())
    event = json.dumps(doc["event"]).encode()
    expect = json.dumps(doc["expect"]["response"]).encode()
    for image in args.images:
        cold = []
        for _ in range(args.rounds):
            with AwsRie(image, memory_mb=MEMORY_MB, timeout_s=30) as function:
                function.invoke(event)
                report = function.reports()[0]
                cold.append((round(report.init_duration_ms or 0), round(report.duration_ms)))
        warm = [
            measure_round(image, event=event, expect=expect, invokes=args.invokes,
                          memory_mb=MEMORY_MB)
            for _ in range(args.rounds)
        ]  # fmt: skip
        print(
            json.dumps(
                {
                    "image": image,
                    "init_and_first_duration_ms": cold,
                    "warm_p50_ms": [round(r.p50_ms) for r in warm],
                    "rss_mib": [round(r.rss_mib) for r in warm],
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
