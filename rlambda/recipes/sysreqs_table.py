"""Derive rlambda's system-requirements table from the r-system-requirements rules.

Source: a snapshot of rstudio/r-system-requirements (the rules pak and Posit Package Manager
use; MIT, see data/LICENSE-r-system-requirements), which maps an R package's SystemRequirements
text, by regular expressions, to build-time OS packages per distribution. It has Debian and
RHEL/Fedora names but no Amazon Linux, so:
  debian  <- the rule's `debian` entry valid for Debian 12 (the debian family's bookworm base)
  al2023  <- `fedora` (AL2023 is Fedora-derived), else RHEL/Rocky 9: a guess, marked as such
  al2     <- CentOS 7, else RHEL 7 (AL2 is RHEL-7-like): a guess, marked as such
An entry that needs a pre-install step there (enabling EPEL, CodeReady, a vendor repository) is
recorded as unavailable, with the reason: the build has no such step, a recipe override can say
what to install instead.

Usage: python -m rlambda.recipes.sysreqs_table [SNAPSHOT_DIR]   (rewrites data/*.json + licence;
default: the snapshot kept in reference/r-system-requirements)
"""

import json
import re
import shutil
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE_FILE = DATA_DIR / "system-requirements.json"
LICENSE_FILE = DATA_DIR / "LICENSE-r-system-requirements"
SNAPSHOT_DIR = Path(__file__).resolve().parents[2] / "reference" / "r-system-requirements"

# family -> distributions to take names from, in order of preference, with the release that
# stands for the family (None: the rule must not restrict versions, or any list will do).
SOURCES: dict[str, list[tuple[str, str | None]]] = {
    "debian": [("debian", "12")],
    "al2023": [("fedora", None), ("redhat", "9"), ("rockylinux", "9")],
    "al2": [("centos", "7"), ("redhat", "7")],
}
GUESSED = {"al2023", "al2"}


def derive(snapshot: Path) -> dict:
    rules = []
    for file in sorted((snapshot / "rules").glob("*.json")):
        rule = json.loads(file.read_text())
        for pattern in rule["patterns"]:
            re.compile(pattern, re.IGNORECASE)  # fail here, not during a lookup
        entry: dict = {"name": file.stem, "patterns": rule["patterns"]}
        for family, sources in SOURCES.items():
            entry[family] = _family_entry(rule, sources, guess=family in GUESSED)
        rules.append(entry)
    return {
        "_notice": (
            "Derived by rlambda/recipes/sysreqs_table.py from rstudio/r-system-requirements"
            f" ({_snapshot_id(snapshot)}), Copyright (c) 2019 RStudio, Inc., MIT licence: see"
            " LICENSE-r-system-requirements beside this file. Amazon Linux names (al2023,"
            " al2) are taken from Fedora/RHEL/CentOS entries and marked guess=true."
        ),
        "rules": rules,
    }


def _family_entry(rule: dict, sources: list[tuple[str, str | None]], *, guess: bool) -> dict:
    for distribution, release in sources:
        for dep in rule["dependencies"]:
            if not any(_applies(c, distribution, release) for c in dep.get("constraints", [])):
                continue
            if dep.get("pre_install") or dep.get("post_install"):
                steps = [s.get("command") or "a script" for s in dep.get("pre_install", [])]
                return {
                    "unavailable": f"{distribution} needs a pre-install step"
                    f" ({'; '.join(steps) or 'post-install script'})"
                }
            label = f"{distribution} {release}" if release else distribution
            return {"packages": dep["packages"], "from": label, "guess": guess}
    names = ", ".join(f"{d} {r}" if r else d for d, r in sources)
    return {"unavailable": f"the rules name no package for {names}"}


def _applies(constraint: dict, distribution: str, release: str | None) -> bool:
    if constraint.get("os") != "linux" or constraint.get("distribution") != distribution:
        return False
    versions = constraint.get("versions")
    return versions is None or release is None or release in versions


def _snapshot_id(snapshot: Path) -> str:
    notes = (snapshot / "SNAPSHOT.md").read_text() if (snapshot / "SNAPSHOT.md").is_file() else ""
    m = re.search(r"commit (\w+) \(([^)]+)\)", notes)
    return f"commit {m.group(1)}, {m.group(2)}" if m else "snapshot"


def write(snapshot: Path) -> None:
    DATA_DIR.mkdir(exist_ok=True)
    TABLE_FILE.write_text(json.dumps(derive(snapshot), indent=1) + "\n")
    shutil.copyfile(snapshot / "LICENSE", LICENSE_FILE)


if __name__ == "__main__":
    if len(sys.argv) > 2:
        print("usage: python -m rlambda.recipes.sysreqs_table [SNAPSHOT_DIR]", file=sys.stderr)
        sys.exit(2)
    write(Path(sys.argv[1]) if len(sys.argv) == 2 else SNAPSHOT_DIR)
