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
import json
import sys
import tomllib
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from packaging.version import Version

from rlambda.build import render
from rlambda.errors import JobError, UsageError, report
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES, FAMILIES
from rlambda.pins.versions import R_VERSION
from rlambda.registry.transport import RegistryClient
from rlambda.sources import cran
from rlambda.sources.dcf import PACKAGE_NAME
from rlambda.sources.fetch import cache_dir, fetch_verified

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB = "registry-1.docker.io"


# ---- R releases ---------------------------------------------------------------------------


HINT = "\nChoose another mirror with --cran-mirror URL."


# CRAN's published sha256 of R's tarballs, collected from independent public build recipes: a
# new pin must agree with it where it has the release (reference/README.md says how it was made).
PUBLISHED_R = Path(__file__).resolve().parent.parent / "reference" / "r-tarballs.toml"


def pin_release(
    r_version: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
    *,
    allow_http: bool = False,
) -> str:
    """Pin R `r_version` and return its sha256."""
    if not R_VERSION.fullmatch(r_version):
        raise UsageError(f"--r {r_version!r}: give an exact release, X.Y.Z")
    pins = versions.load(versions_file)
    mirror_path = cran.r_source_path(r_version)
    url = f"{cran.check_mirror(mirror) if mirror else pins.cran_mirror}/{mirror_path}"
    if r_version in pins.r:
        return _confirm(f"R {r_version}", url, pins.r[r_version].sha256)
    _check_scheme(url, allow_http)
    sha256 = _download_and_hash(url)
    _check_published(r_version, url, sha256)
    entry = {"url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("r", r_version), entry)
    print(f"pinned R {r_version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def pin_package(
    name: str,
    mirror: str | None,
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
    *,
    allow_http: bool = False,
) -> str:
    """Pin the mirror's current release of the runtime's R package `name`; return its sha256."""
    if not PACKAGE_NAME.fullmatch(name):
        raise UsageError(f"--package {name!r} is not an R package name")
    pins = versions.load(versions_file)
    base = cran.check_mirror(mirror) if mirror else pins.cran_mirror
    version = _current_version(base, name)
    mirror_path = cran.package_path(name, version)
    url = f"{base}/{mirror_path}"
    pinned = pins.packages.get(name)
    if pinned and pinned.version == version:
        return _confirm(f"{name} {version}", url, pinned.sha256)
    _check_scheme(url, allow_http)
    sha256 = _download_and_hash(url)
    entry = {"version": version, "url": f"{pins.cran_mirror}/{mirror_path}", "sha256": sha256}
    _write_pin(versions_file, images_dir, ("packages", name), entry)
    print(f"pinned {name} {version}: sha256 {sha256} (from {url})", file=sys.stderr)
    return sha256


def _current_version(mirror: str, name: str) -> str:
    """The version of `name` in the mirror's PACKAGES index."""
    try:
        return str(cran.Mirror(mirror).current(name).version)
    except JobError as e:
        raise JobError(f"{e}{HINT}") from None


def _confirm(what: str, url: str, pinned: str) -> str:
    # fetch_verified refuses (and deletes) a download whose hash differs from the pin.
    fetch_verified(url, pinned, mirror_hint=HINT)
    print(f"{what} is already pinned and the mirror agrees: {pinned}", file=sys.stderr)
    return pinned


def _check_scheme(url: str, allow_http: bool) -> None:
    """A new pin vouches for bytes from then on: over plain http anyone on the path chooses them."""
    if url.startswith("http://") and not allow_http:
        raise UsageError(
            f"{url}: a new pin over plain http:// could be altered in transit, and the pin would"
            " then vouch for those bytes. Use an https:// mirror, or pass --allow-http for a"
            " mirror you trust (a local one)."
        )


def _check_published(r_version: str, url: str, sha256: str) -> None:
    """Refuse a tarball whose hash differs from CRAN's published one, and drop the download."""
    published = tomllib.loads(PUBLISHED_R.read_text())["versions"].get(r_version)
    if published is None or published["sha256"] == sha256:
        return
    (cache_dir() / "sha256" / sha256).unlink(missing_ok=True)
    raise JobError(
        f"R {r_version} from {url} is not CRAN's tarball:\n"
        f"  published sha256 {published['sha256']} ({PUBLISHED_R.name})\n"
        f"  got       sha256 {sha256}\n"
        f"Nothing was pinned and the download was deleted.{HINT}"
    )


def _download_and_hash(url: str) -> str:
    """Download into the cache under the hash of what arrived; the bytes are what we pin."""
    try:
        return cran.download_to_cache(url)[1]
    except JobError as e:
        raise JobError(f"{e}{HINT}") from None


def _write_pin(
    versions_file: Path, images_dir: Path | None, key: tuple[str, str], entry: dict[str, str]
) -> None:
    """Add or replace one pin, validating the new file before it replaces the old one."""
    document = tomlkit.parse(versions_file.read_text())
    table = tomlkit.table()
    table.update(entry)
    document[key[0]][key[1]] = table
    replace_versions_file(versions_file, document, images_dir)


def replace_versions_file(
    versions_file: Path, document: tomlkit.TOMLDocument, images_dir: Path | None
) -> versions.Versions:
    """Write an edited VERSIONS.toml: validated as every build reads it before it replaces the
    old file (a bad edit leaves the old one untouched), then images/ re-rendered."""
    tmp = versions_file.with_name(versions_file.name + ".new")
    tmp.write_text(tomlkit.dumps(document))
    try:
        updated = versions.load(tmp)
    except UsageError:
        tmp.unlink()
        raise
    tmp.replace(versions_file)
    if images_dir is not None:
        render.write_all(updated, images_dir)
    return updated


def new_r_releases(mirror: str, pinned: Collection[str] | None = None) -> list[str]:
    """Releases on `mirror` newer than the newest of `pinned` (default: VERSIONS.toml's)."""
    if pinned is None:
        pinned = list(versions.load().r)
    if not pinned:
        raise UsageError("no pinned R release to compare the mirror with")
    newest = max(Version(v) for v in pinned)
    mirror = mirror.rstrip("/")
    found: list[str] = []
    for major in (newest.major, newest.major + 1):
        releases = cran.r_releases(mirror, major)
        if releases is None:
            if major == newest.major:
                raise JobError(
                    f"{mirror}/src/base/R-{major}/: not found; is {mirror} a CRAN mirror?"
                    " (--cran-mirror)"
                )
            continue  # no R-(major+1)/ yet: the usual case
        found += [v for v in releases if Version(v) > newest]
    return sorted(set(found), key=Version)


# ---- base images ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    registry: str  # host[:port]
    repository: str
    tag: str

    @property
    def base_url(self) -> str:
        # dockerd treats loopback registries as plain HTTP; everything else is HTTPS.
        host = self.registry.rsplit(":", 1)[0]
        scheme = "http" if host in ("127.0.0.1", "localhost", "[::1]") else "https"
        return f"{scheme}://{self.registry}"


def parse_reference(image: str, tag: str) -> Reference:
    """Split VERSIONS.toml's `image` the way Docker does: a first component with a dot, a
    colon or `localhost` is a registry; otherwise Docker Hub (library/ for one-part names)."""
    first, _, rest = image.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return Reference(first, rest, tag)
    return Reference(DOCKER_HUB, image if rest else f"library/{image}", tag)


def resolve_digests(image: str, tag: str) -> dict[str, str]:
    """One manifest digest per Lambda architecture for `image:tag`.

    From an image index: each architecture's linux manifest (not the index itself, so a pin
    names exactly the bytes one architecture builds FROM). From a single manifest: its config's
    architecture only, and the other architecture is an error.
    """
    ref = parse_reference(image, tag)
    client = RegistryClient(ref.base_url)
    manifest = client.manifest(ref.repository, tag, (*INDEX_TYPES, *MANIFEST_TYPES))
    if manifest is None:
        raise JobError(f"{image}:{tag}: the registry has no such tag")
    digest, document = manifest.digest, json.loads(manifest.raw)
    wanted = {platform.split("/")[1]: arch for arch, platform in ARCHITECTURES.items()}
    found: dict[str, str] = {}
    media_type = document.get("mediaType", "")
    if media_type in INDEX_TYPES or "manifests" in document:
        for item in document.get("manifests", []):
            platform = item.get("platform") or {}
            arch = wanted.get(platform.get("architecture", ""))
            # arm64 manifests are variant v8 or unspecified; an odd variant is not Lambda's.
            variant_ok = platform.get("variant") in (None, "", "v8") or arch == "x86_64"
            if platform.get("os") == "linux" and arch and arch not in found and variant_ok:
                found[arch] = item["digest"]
    else:
        config_digest = document.get("config", {}).get("digest")
        config = json.loads(client.blob(ref.repository, config_digest))
        arch = wanted.get(config.get("architecture", ""))
        if arch:
            found[arch] = digest
    missing = [a for a in ARCHITECTURES if a not in found]
    if missing:
        raise JobError(
            f"{image}:{tag} has no linux manifest for {', '.join(missing)}; Lambda images need"
            f" both {', '.join(ARCHITECTURES)}"
        )
    return found


def write_base_digests(
    family: str,
    digests: dict[str, str],
    versions_file: Path = versions.VERSIONS_FILE,
    images_dir: Path | None = render.IMAGES_DIR,
    note: str | None = None,
) -> bool:
    """Write one family's digests into VERSIONS.toml; False (nothing written) if unchanged.

    The comment lines right above the first architecture's key describe the old digests
    ("index digest, seen ..."), so they are replaced by `note`; every other comment stays.
    """
    document = tomlkit.parse(versions_file.read_text())
    old = document["bases"][family]
    if all(old.get(arch) == digest for arch, digest in digests.items()):
        return False
    table = tomlkit.table()
    held: list[Any] = []  # comment lines not yet placed: they belong to the next key
    noted = False
    for key, item in old.value.body:
        if key is None and isinstance(item, tomlkit.items.Comment):
            held.append(item)
            continue
        if key is not None and key.key in digests:
            if note is not None:
                held = [] if noted else [tomlkit.comment(note)]
                noted = True
            for comment in held:
                table.add(comment)
            held = []
            table.add(key.key, digests[key.key])
            continue
        for comment in held:
            table.add(comment)
        held = []
        if key is None:
            table.add(item)  # white space
        else:
            table.add(key.key, item)
    for comment in held:
        table.add(comment)
    document["bases"][family] = table
    replace_versions_file(versions_file, document, images_dir)
    return True


# ---- command line -------------------------------------------------------------------------------


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
