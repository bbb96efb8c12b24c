"""Pins: VERSIONS.toml's R releases, runtime R packages and base-image digests, from upstream.

    python build.py update --r X.Y.Z      pin one R release: download, sha256, write, re-render
    python build.py update --package NAME pin a runtime R package's current release
    python build.py update                find what is new upstream and pin it (`main`, below)

No sha256 is ever typed by hand. An existing pin is never overwritten: if the mirror now serves
different bytes for a pinned file, that is reported and nothing changes.

Without --r or --package:

1. Re-verify the newest pinned R release against the mirror. If the mirror now serves other
   bytes under a pinned name, refuse: nothing is written, the run fails and says which release
   (a tarball replaced upstream must be looked at by a person, never re-pinned silently).
2. New R releases: every `R-X.Y.Z.tar.gz` in the mirror's `src/base/R-<major>/` listing that is
   newer than the newest pinned release, for the newest pinned major and the next one. R core
   publishes patch releases of a series only before the next minor release, so "newer than the
   newest pinned" misses nothing in practice; an older release is pinned by hand with
   `build.py update --r X.Y.Z`. Each is pinned through `pin_release` (download, sha256,
   VERSIONS.toml, images/).
3. Base images: each family's `image:tag` resolved through the registry's HTTP API (anonymous
   bearer token, as public.ecr.aws and Docker Hub hand out) to one manifest digest per
   architecture; changed digests are written into VERSIONS.toml with tomlkit (comments kept),
   validated by `versions.load` before the file is replaced.

What changed is printed on stdout as a Markdown list (the update pull request's body); progress
goes to stderr. Exit status: 0 ok (changes or none), 1 the job failed or a pin was refused,
2 bad input.
"""

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from packaging.version import Version

from rlambda.build import render
from rlambda.errors import JobError, UsageError, report
from rlambda.pins import versions
from rlambda.pins.platforms import FAMILIES
from rlambda.sources import cran
from rlambda.update.bases import resolve_digests, write_base_digests
from rlambda.update.releases import new_r_releases, pin_package, pin_release


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="build.py update",
        description="Pin from a mirror into VERSIONS.toml: download, compute the sha256, write"
        " the pin, and re-render images/. An existing pin is never overwritten. With --r or"
        " --package: pin that. Without: pin every new R release on the mirror and the current"
        " digests of the families' base images; the newest pinned release is re-verified first,"
        " and a changed tarball is refused, never re-pinned.",
    )
    add_arguments(p)
    return p


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument("--r", metavar="X.Y.Z", help="an R release to pin")
    what.add_argument(
        "--package", metavar="NAME", help="a runtime R package: pin the mirror's current release"
    )
    p.add_argument("--cran-mirror", metavar="URL", help="mirror to list and download from")
    p.add_argument(
        "--allow-http",
        action="store_true",
        help="let a new pin come from a plain http:// mirror (e.g. a local one); refused otherwise",
    )
    p.add_argument(
        "--versions-file",
        type=Path,
        default=versions.VERSIONS_FILE,
        metavar="PATH",
        help="the pins to update instead of VERSIONS.toml (images/ is only re-rendered for"
        " VERSIONS.toml itself)",
    )
    scan = p.add_argument_group("without --r or --package")
    scan.add_argument("--no-r", action="store_true", help="do not look for new R releases")
    scan.add_argument("--no-bases", action="store_true", help="do not resolve base-image digests")
    scan.add_argument(
        "--no-verify",
        action="store_true",
        help="do not re-download the newest pinned release to check the mirror still serves it",
    )


def find_and_pin(args: argparse.Namespace) -> list[str]:
    """Pin what is new upstream; return what changed, one Markdown list item each."""
    own = args.versions_file.resolve() == versions.VERSIONS_FILE
    images_dir = render.IMAGES_DIR if own else None
    pins = versions.load(args.versions_file)
    mirror = cran.check_mirror(args.cran_mirror) if args.cran_mirror else pins.cran_mirror
    changes: list[str] = []
    if not args.no_r:
        newest = max(pins.r, key=Version)
        if not args.no_verify:
            print(f"==> checking that {mirror} still serves pinned R {newest}", file=sys.stderr)
            try:
                pin_release(newest, mirror, args.versions_file, images_dir)
            except JobError as e:
                raise JobError(
                    f"refused: R {newest} is pinned, and the mirror's tarball does not match"
                    f" its pin. Nothing was changed.\n{e}"
                ) from None
        for release in new_r_releases(mirror, list(pins.r)):
            sha256 = pin_release(
                release, mirror, args.versions_file, images_dir, allow_http=args.allow_http
            )
            changes.append(f"- R {release}: sha256 `{sha256}`")
    if not args.no_bases:
        today = datetime.datetime.now(datetime.UTC).date()
        for name in FAMILIES:
            base = pins.bases[name]
            print(f"==> resolving {base.image}:{base.tag}", file=sys.stderr)
            digests = resolve_digests(base.image, base.tag)
            note = f"per-architecture manifests of {base.tag}, resolved {today:%Y-%m-%d}"
            if write_base_digests(name, digests, args.versions_file, images_dir, note):
                for arch, digest in digests.items():
                    if base.digests.get(arch) != digest:
                        changes.append(
                            f"- base {name}/{arch} ({base.image}:{base.tag}):"
                            f" `{base.digests.get(arch)}` → `{digest}`"
                        )
    return changes


def run(args: argparse.Namespace) -> int:
    """`build.py update`: pin one release or package, or find what is new and pin it."""
    own = args.versions_file.resolve() == versions.VERSIONS_FILE
    images_dir = render.IMAGES_DIR if own else None
    try:
        if args.r:
            pin_release(
                args.r, args.cran_mirror, args.versions_file, images_dir, allow_http=args.allow_http
            )
        elif args.package:
            pin_package(
                args.package,
                args.cran_mirror,
                args.versions_file,
                images_dir,
                allow_http=args.allow_http,
            )
        else:
            changes = find_and_pin(args)
            print("\n".join(changes) if changes else "nothing new")
    except (UsageError, JobError) as e:
        return report(e)
    return 0


def main(argv: Sequence[str]) -> int:
    return run(parser().parse_args(list(argv)))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
