"""A software bill of materials for every image built here, placed in the image and read back.

After an image is built, `attach` runs one query inside it (its OS packages through dpkg or
rpm, its R packages through R itself, the runtime client's DESCRIPTION), joins that with what
the build knows and the image cannot say (the R source URL and sha256, each R package's source
and sha256 from VERSIONS.toml and the recipe's lock, the base image's digest), and adds the
document to the image as one small layer at SBOM_PATH, with the label SBOM_LABEL naming the
path. `read` gets it back from any image built here without running it (`build.py sbom IMAGE`).

Format: CycloneDX 1.5 JSON rather than SPDX 2.3. Each component carries its package URL
(pkg:cran, pkg:deb, pkg:rpm, pkg:oci), hashes and licence in one flat record, where SPDX needs
a package, a relationship and a checksum list per entry; R's DESCRIPTION licences ("MIT + file
LICENSE") are not SPDX expressions, and CycloneDX takes them as a licence name as they are;
cyclonedx-python-lib (PyPI) validates against the official schema offline.

The R packages found in the image must be exactly those the build installed (the pins' and the
lock's, by name and version): any difference fails with the list, never silently merged.
"""

import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import docker.errors

import docker
from rlambda.build import engine
from rlambda.errors import JobError, UsageError
from rlambda.recipes.system_sources import SystemSource
from rlambda.sources.fetch import public_url
from rlambda.target import Target

SBOM_PATH = "/usr/share/rlambda/sbom.cdx.json"
SBOM_LABEL = "io.rlambda.sbom"
# What every image built here carries (Dockerfile.base and builder.py set them).
BUILT_HERE_LABELS = (
    "io.rlambda.r.version",
    "io.rlambda.r.source.sha256",
    "io.rlambda.family",
    "io.rlambda.content-hash",
    SBOM_LABEL,
)
# The SBOM layer is part of what a content tag names: a change to this file rebuilds it (from
# the layer cache, in seconds) instead of reusing an image whose SBOM says something else.
GENERATOR = "sbom-" + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
# Base R's own packages (Priority: base) ship inside R's tarball: listed under R.
_BASE_PRIORITY = "base"

# Run inside the image: one tab-separated line per package, sections marked by "#".
# dpkg or rpm, whichever the image has: any family, and any image built here, answers.
_INVENTORY = r"""
set -e
echo '#os-release'
cat /etc/os-release 2>/dev/null || true
echo '#os'
if command -v dpkg-query >/dev/null 2>&1; then
  dpkg-query -W -f='deb\t${Package}\t${Version}\t${Architecture}\n'
elif command -v rpm >/dev/null 2>&1; then
  rpm -qa --qf 'rpm\t%{NAME}\t%{VERSION}-%{RELEASE}\t%{ARCH}\n'
fi
echo '#r'
Rscript --vanilla -e '
ip <- installed.packages(noCache = TRUE)
lic <- gsub("[[:space:]]+", " ", ip[, "License"])
cat(paste(ip[, "Package"], ip[, "Version"], ifelse(is.na(ip[, "Priority"]), "", ip[, "Priority"]),
          lic, ip[, "LibPath"], sep = "\t"), sep = "\n")
cat("\n")'
echo '#runtime'
grep -E '^(Package|Version|License):' /var/runtime/DESCRIPTION || true
"""


@dataclass(frozen=True)
class KnownPackage:
    """An R package the build installed, as its pins or lock name it."""

    name: str
    version: str
    url: str
    sha256: str


@dataclass(frozen=True)
class SbomInputs:
    """What the build knows that the image cannot say."""

    r_source_url: str
    packages: tuple[KnownPackage, ...]
    # The recipe's [system-sources] for the target's family: built into its packages.
    system_sources: tuple[SystemSource, ...] = ()


def inputs(target: Target) -> SbomInputs:
    """What the target's build installs: R's source, the pins' packages and the lock's."""
    locked = target.recipe.lock.packages if target.recipe else ()
    known = [*target.pins.packages.values(), *locked]
    mirror = public_url(target.mirror)  # no credentials in the image
    sources = (
        target.recipe.recipe.system_sources.get(target.family.name, ()) if target.recipe else ()
    )
    return SbomInputs(
        f"{mirror}/{target.r.mirror_path}",
        tuple(KnownPackage(p.name, p.version, p.urls(mirror)[0], p.sha256) for p in known),
        tuple(sources),
    )


@dataclass(frozen=True)
class Inventory:
    """What the image holds, as its own package managers and R report it."""

    os_release: dict[str, str]
    os_packages: list[tuple[str, str, str, str]]  # (kind, name, version, arch)
    r_packages: list[tuple[str, str, str, str]]  # (name, version, priority, licence)
    runtime: dict[str, str]


def inventory(client: docker.DockerClient, image_id: str) -> Inventory:
    """Query the image from inside, with no network, as root (dpkg and rpm read their DBs)."""
    out = engine.probe(
        client, image_id, _INVENTORY, purpose="the SBOM query", user="0", stderr=False
    )
    return parse_inventory(out)


def parse_inventory(text: str) -> Inventory:
    sections: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("#") and line[1:] in ("os-release", "os", "r", "runtime"):
            current = line[1:]
            sections[current] = []
        elif current and line.strip():
            sections[current].append(line)
    os_release = {}
    for line in sections.get("os-release", []):
        key, _, value = line.partition("=")
        os_release[key] = value.strip().strip('"')
    os_packages = [
        (f[0], f[1], f[2], f[3])
        for f in (line.split("\t") for line in sections.get("os", []))
        if len(f) == 4
    ]
    r_packages = [
        (f[0], f[1], f[2], f[3])
        for f in (line.split("\t") for line in sections.get("r", []))
        if len(f) >= 4
    ]
    runtime = {}
    for line in sections.get("runtime", []):
        key, _, value = line.partition(":")
        runtime[key] = value.strip()
    if not r_packages:
        raise JobError("the SBOM query found no R packages in the image: is R on its PATH?")
    return Inventory(os_release, os_packages, r_packages, runtime)


def check_packages(found: Inventory, known: Iterable[KnownPackage]) -> None:
    """The image's own R packages must be exactly those the build installed."""
    expected = {(p.name, p.version) for p in known}
    installed = {(n, v) for n, v, priority, _ in found.r_packages if priority != _BASE_PRIORITY}
    problems = [
        f"  {n} {v}: in the pins or lock, but not installed in the image"
        for n, v in sorted(expected - installed)
    ] + [
        f"  {n} {v}: installed in the image, but in neither the pins nor the lock"
        for n, v in sorted(installed - expected)
    ]
    if problems:
        raise JobError(
            "the image's R packages disagree with its pins and lock:\n"
            + "\n".join(problems)
            + "\nRe-lock the recipe (python build.py lock NAME) and rebuild; nothing was tagged."
        )


def document(
    labels: Mapping[str, str],
    found: Inventory,
    inputs: SbomInputs,
    *,
    image_name: str,
    created: str,
) -> dict[str, Any]:
    """The CycloneDX 1.5 document for an image with these labels and contents."""
    known = {(p.name, p.version): p for p in inputs.packages}
    r_version = labels["io.rlambda.r.version"]
    r_sha = labels["io.rlambda.r.source.sha256"]
    content_hash = labels["io.rlambda.content-hash"]
    # The OS base, which a recipe image inherits from its R base image's labels.
    base_name = labels.get("io.rlambda.os-base.name", "")
    base_digest = labels.get("io.rlambda.os-base.digest", "")

    def licence(text: str) -> list[dict[str, Any]]:
        return [{"license": {"name": text}}] if text and text != "NA" else []

    base_r = [
        {
            "type": "library",
            "bom-ref": f"r-base-package:{n}",
            "name": n,
            "version": v,
            "licenses": licence(lic),
            "description": "part of R's own source tarball",
        }
        for n, v, priority, lic in found.r_packages
        if priority == _BASE_PRIORITY
    ]
    components: list[dict[str, Any]] = [
        {
            "type": "container",
            "bom-ref": "base-image",
            "name": base_name,
            "version": base_digest,
            "hashes": _sha256(base_digest.removeprefix("sha256:")),
            "purl": _oci_purl(base_name, base_digest),
            "description": "the base image, by the digest it was built from",
        },
        {
            "type": "application",
            "bom-ref": "r",
            "name": "R",
            "version": r_version,
            "hashes": _sha256(r_sha),
            "licenses": [{"license": {"name": "GPL-2 | GPL-3"}}],
            "purl": f"pkg:generic/R@{r_version}?download_url={quote(inputs.r_source_url, safe='')}",
            "externalReferences": [
                {"type": "distribution", "url": inputs.r_source_url, "hashes": _sha256(r_sha)}
            ],
            "components": base_r,
        },
    ]
    for n, v, priority, lic in found.r_packages:
        if priority == _BASE_PRIORITY:
            continue
        p = known[(n, v)]  # check_packages() made sure every one is known
        components.append(
            {
                "type": "library",
                "bom-ref": f"r-package:{n}@{v}",
                "name": n,
                "version": v,
                "hashes": _sha256(p.sha256),
                "licenses": licence(lic),
                "purl": f"pkg:cran/{n}@{v}",
                "externalReferences": [
                    {"type": "distribution", "url": p.url, "hashes": _sha256(p.sha256)}
                ],
            }
        )
    for source in inputs.system_sources:
        url = quote(source.url, safe="")
        components.append(
            {
                "type": "library",
                "bom-ref": f"system-source:{source.name}@{source.version}",
                "name": source.name,
                "version": source.version,
                "hashes": _sha256(source.sha256),
                "licenses": licence(source.license),
                "purl": f"pkg:generic/{quote(source.name)}@{quote(source.version)}"
                f"?download_url={url}",
                "externalReferences": [
                    {"type": "distribution", "url": source.url, "hashes": _sha256(source.sha256)}
                ],
                "description": "built from source and linked statically into "
                + ", ".join(source.for_packages),
            }
        )
    if found.runtime:
        components.append(
            {
                "type": "library",
                "bom-ref": "runtime-client",
                "name": "rlambda runtime interface client",
                "version": found.runtime.get("Version", ""),
                "licenses": licence(found.runtime.get("License", "")),
                "description": "/var/runtime, built from this project's git commit "
                + labels.get("org.opencontainers.image.revision", "unknown"),
            }
        )
    distro = found.os_release.get("ID", "")
    distro_version = found.os_release.get("VERSION_ID", "")
    namespace = quote(distro or "unknown")
    for kind, n, v, arch in found.os_packages:
        qualifiers = f"arch={quote(arch)}" + (
            f"&distro={quote(distro)}-{quote(distro_version)}" if distro else ""
        )
        components.append(
            {
                "type": "library",
                "bom-ref": f"os-package:{n}@{v}:{arch}",
                "name": n,
                "version": v,
                "purl": f"pkg:{kind}/{namespace}/{quote(n)}@{quote(v)}?{qualifiers}",
            }
        )
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        # One serial number per image content: the same inputs give the same document.
        "serialNumber": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, 'rlambda:' + content_hash)}",
        "version": 1,
        "metadata": {
            "timestamp": created,
            "tools": {"components": [{"type": "application", "name": "rlambda build.py"}]},
            "component": {
                "type": "container",
                "bom-ref": "image",
                "name": image_name,
                "version": content_hash,
                "properties": [
                    {"name": k, "value": v} for k, v in sorted(labels.items()) if "rlambda" in k
                ],
            },
        },
        "components": components,
    }


def attach(
    client: docker.DockerClient,
    image_id: str,
    inputs: SbomInputs,
    *,
    image_name: str,
    platform: str,
    written_to: Path,
) -> str:
    """Make the image's SBOM, write it to `written_to`, and return the image with it inside."""
    image = client.images.get(image_id)
    labels = image.labels or {}
    found = inventory(client, image_id)
    check_packages(found, inputs.packages)
    doc = document(labels, found, inputs, image_name=image_name, created=image.attrs["Created"])
    data = (json.dumps(doc, indent=2) + "\n").encode()
    written_to.parent.mkdir(parents=True, exist_ok=True)
    written_to.write_bytes(data)
    dockerfile = f"FROM {image_id}\nCOPY sbom.cdx.json {SBOM_PATH}\n".encode()
    return engine.build(
        client,
        _tar({"Dockerfile": dockerfile, "sbom.cdx.json": data}),
        buildargs={},
        labels={SBOM_LABEL: SBOM_PATH},
        platform=platform,
        log_path=written_to.with_suffix(".log"),
    )


def carries_sbom(client: docker.DockerClient, image_id: str) -> bool:
    return SBOM_LABEL in (client.images.get(image_id).labels or {})


def read(client: docker.DockerClient, ref: str) -> dict[str, Any]:
    """The SBOM inside an image built here, without running the image."""
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        raise UsageError(f"no image {ref!r} in the Docker engine: build it or pull it") from None
    labels = image.labels or {}
    missing = [label for label in BUILT_HERE_LABELS if label not in labels]
    if missing:
        raise UsageError(
            f"{ref} was not built by this project's build.py (or before SBOMs were added):"
            f" it lacks the labels {', '.join(missing)}. Build it with build.py to get an SBOM."
        )
    try:
        with engine.copy_out(client, image.id, labels[SBOM_LABEL]) as tar:
            member = tar.next()
            extracted = tar.extractfile(member) if member else None
            if extracted is None:
                raise JobError(f"{ref}: {labels[SBOM_LABEL]} is not a file")
            return json.loads(extracted.read())
    except docker.errors.NotFound:
        raise JobError(f"{ref}: its label names {labels[SBOM_LABEL]}, which is missing") from None


def export(client: docker.DockerClient, ref: str, path: Path) -> Path:
    """Write an image's SBOM to `path` (for an image reused from an earlier build)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(read(client, ref), indent=2) + "\n")
    return path


def _sha256(hex_digest: str) -> list[dict[str, str]]:
    return [{"alg": "SHA-256", "content": hex_digest}] if len(hex_digest) == 64 else []


def _oci_purl(name: str, digest: str) -> str:
    # pkg:oci/NAME@DIGEST?repository_url=REGISTRY/PATH (the purl spec's oci type).
    base = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    short = base.rsplit("/", 1)[-1]
    return f"pkg:oci/{quote(short)}@{quote(digest)}?repository_url={quote(base, safe='')}"


def _tar(files: Mapping[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0  # the same document gives the same layer
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
