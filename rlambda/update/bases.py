"""Base-image digests: each family's image:tag resolved through its registry's HTTP API to one
manifest digest per architecture, and written into VERSIONS.toml with its comments kept."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from rlambda.build import render
from rlambda.errors import JobError
from rlambda.pins import versions
from rlambda.pins.platforms import ARCHITECTURES
from rlambda.registry.transport import RegistryClient
from rlambda.update.releases import replace_versions_file

INDEX_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)
MANIFEST_TYPES = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
DOCKER_HUB = "registry-1.docker.io"


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
