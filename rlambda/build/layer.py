"""Lambda layers for zip-packaged functions, taken from a built image (`build.py --layer`).

A function on the OS-only runtime (provided.al2023) gets its layers unzipped under /opt and
Lambda runs /opt/bootstrap. The layer holds what the image holds under /var/lang and
/var/runtime, moved to /opt:

    /opt/bootstrap          starts /opt/runtime/bootstrap (the runtime client's, unchanged)
    /opt/runtime/           the runtime client (main.R, R/, r-env.sh)
    /opt/lang/              R (R_HOME /opt/lang/lib/R, or lib64/R where R's configure chose
                            lib64), the recipe's packages in its site-library
    /opt/lib/               the OS libraries `ldd` finds that the runtime's base image lacks
                            (Lambda puts /opt/lib on LD_LIBRARY_PATH)

Relocation: R's front-end scripts (bin/R), Rscript, etc/Makeconf and the runtime's recorded
r-env.sh hard-code /var/lang. "/opt/lang" is exactly as long as "/var/lang", so the prefix is
rewritten byte for byte in every file that holds it (binaries included, as relocatable-R
builds do), and the result is checked by running Rscript from /opt in the base image. Files R
compresses (.rds, .rdb) cannot hold the literal and are left alone.

Before anything is zipped, every ELF file of the layer is run through `ldd` inside the
runtime's base image with the layer mounted at /opt: a library still missing, or a symbol
version the base's C library lacks (R built against glibc 2.36 on a glibc 2.34 base), fails
the build with the files and libraries named. The C library itself cannot travel in a layer:
every binary names the base's loader (/lib64/ld-linux-*.so.*), which must match it.
"""

import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from docker import DockerClient
from rlambda.build import engine, layer_zip
from rlambda.build.layer_zip import COMPATIBLE_RUNTIME
from rlambda.errors import JobError
from rlambda.target import Target

IMAGE_LANG, LAYER_LANG = b"/var/lang", b"/opt/lang"
assert len(IMAGE_LANG) == len(LAYER_LANG)  # the in-place rewrite depends on it
# R_HOME in the image, as the runtime recorded it (bootstrap --write-r-env).
_R_HOME = re.compile(r"^R_HOME='(/var/lang/[^']+)'$", re.MULTILINE)
# AWS Lambda quotas: "250 MB" unzipped for the function and all its layers, 262,144,000 bytes.
UNZIPPED_LIMIT = 262_144_000
# The C library's own objects: they must come from the base (its loader is fixed in every ELF).
_C_LIBRARY = re.compile(
    r"(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libanl|libnss_\w+|libmvec)"
    r"\.so(\.\d+)*"
)
R_LICENSE = "GPL-2 | GPL-3"

BOOTSTRAP = """\
#!/bin/sh
# Lambda runs /opt/bootstrap for a function on an OS-only runtime with this layer: start the
# R runtime client, which finds R through the r-env.sh recorded beside it (R_HOME under /opt/lang).
PATH=/opt/lang/bin:$PATH
export PATH
exec /opt/runtime/bootstrap "$@"
"""

# Inside the built image: "<file>\\t<soname>\\t<resolved path>\\t<real path>" for every library
# an ELF file under /var/lang links that lives outside it.
_NEEDED_SCRIPT = r"""
export LD_LIBRARY_PATH="$IMAGE_R_HOME/lib"
find /var/lang -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u=x \) | sort |
while read -r f; do
  ldd "$f" 2>/dev/null | awk -v f="$f" '$2 == "=>" && $3 ~ /^\// { print f "\t" $1 "\t" $3 }'
done | while IFS="$(printf '\t')" read -r f soname path; do
  case "$path" in /var/lang/*) continue ;; esac
  printf '%s\t%s\t%s\t%s\n' "$f" "$soname" "$path" "$(readlink -f "$path")"
done
"""

# Inside the built image: "<real path>\t<owning OS package>" for each argument.
_OWNER_SCRIPTS = {
    "dpkg": r"""for p; do
  printf '%s\t%s\n' "$p" "$(dpkg-query --search "*${p#/usr}" 2>/dev/null | head -n1 | cut -d: -f1)"
done""",
    "rpm": r"""for p; do
  printf '%s\t%s\n' "$p" "$(rpm -qf --queryformat '%{NAME}' "$p" 2>/dev/null)"
done""",
}

# Inside the base with the layer at /opt: every ldd complaint, and where R thinks it lives.
_CHECK_SCRIPT = r"""
export LD_LIBRARY_PATH="$LAYER_R_HOME/lib:/opt/lib"
find /opt -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u=x \) | sort |
while read -r f; do
  ldd "$f" 2>&1 | grep -E 'not found' | sed "s|^|$f: |"
done
echo "R_HOME=$(/opt/lang/bin/Rscript -e 'cat(R.home())' 2>&1)"
"""


@dataclass(frozen=True)
class LayerOptions:
    out_dir: Path
    split: bool = False  # an R layer and a packages layer, instead of one
    # The function's own code and any other layers, unzipped: they share Lambda's 250 MB.
    other_mb: float = 0.0


@dataclass
class Part:
    name: str
    layer: str  # "r" or "packages"
    files: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.files)


@dataclass(frozen=True)
class Layer:
    path: Path
    sha256: str
    kind: str
    unzipped_bytes: int


def build_layers(
    target: Target,
    image_id: str,
    options: LayerOptions,
    client: DockerClient,
    *,
    runtime_base: str | None = None,
    out: object = sys.stderr,
) -> list[Layer]:
    """Write the layer zip(s) for `image_id` (built for `target`) into options.out_dir.

    `runtime_base` is the image of the runtime the layer is for (default: the target's base).
    Raises JobError, writing no zip, when the layer cannot work there or is too big."""
    base = runtime_base or target.base_ref
    options.out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="layer-", dir=options.out_dir) as tmp:
        stage = Path(tmp) / "opt"
        stage.mkdir()
        stage.chmod(0o755)
        _export(client, image_id, "/var/lang", stage)
        _export(client, image_id, "/var/runtime", stage)
        (stage / "lang" / "runtime-packages.txt").unlink(missing_ok=True)
        r_home = _image_r_home(stage)
        package_libs, owners = _carry_libraries(
            client, image_id, base, stage, r_home, target.family.owner_query
        )
        bootstrap = stage / "bootstrap"
        bootstrap.write_text(BOOTSTRAP)
        bootstrap.chmod(0o755)
        parts = _parts(stage, package_libs, r_home, split=options.split)
        _check_size(parts, options.other_mb)
        print(format_sizes(parts, options.other_mb), file=out)

        patched = _relocate(stage)
        _check_in_base(client, base, stage, _in_layer(r_home))
        print(
            f"==> relocated to /opt and checked on {base}: {len(patched)} files rewritten", file=out
        )
        return _write(target, stage, parts, owners, options, out)


def _export(client: DockerClient, image_id: str, path: str, dest: Path) -> None:
    """Copy `path` out of the image (its last component becomes a directory in dest)."""
    with engine.copy_out(client, image_id, path) as tar:
        tar.extractall(dest, filter="tar")


def _run(
    client: DockerClient, image: str, script: str, command_args: Sequence[str] = (), **options
) -> str:
    """`sh -c script` in a throw-away container of `image`, without network; its output."""
    return engine.probe(
        client, image, script, command_args, purpose="checking the layer", **options
    )


def _base_sonames(client: DockerClient, base: str) -> set[str]:
    listing = _run(client, base, "ldconfig -p")
    return {line.split()[0] for line in listing.splitlines() if line.startswith(("\t", " "))}


def _image_r_home(stage: Path) -> str:
    recorded = stage / "runtime" / "r-env.sh"
    found = _R_HOME.search(recorded.read_text()) if recorded.is_file() else None
    if found is None:
        raise JobError(
            "the image has no runtime/r-env.sh naming an R_HOME under /var/lang (written by"
            " bootstrap --write-r-env): rebuild it with this version of build.py"
        )
    return found[1]


def _in_layer(image_path: str) -> str:
    return image_path.replace(IMAGE_LANG.decode(), LAYER_LANG.decode(), 1)


def _carry_libraries(
    client: DockerClient, image_id: str, base: str, stage: Path, r_home: str, owner_query: str
) -> tuple[set[str], dict[str, str]]:
    """Copy into stage/lib the libraries R and its packages link that the base lacks; return
    the sonames only the packages need, and each carried library's OS package (its licence is
    that package's)."""
    needed: dict[str, tuple[str, set[str]]] = {}  # soname -> (real path, needed by)
    found = _run(client, image_id, _NEEDED_SCRIPT, environment={"IMAGE_R_HOME": r_home})
    for line in found.splitlines():
        parts = line.split("\t")
        if len(parts) != 4:
            continue
        file, soname, _, real = parts
        needed.setdefault(soname, (real, set()))[1].add(file)
    in_base = _base_sonames(client, base)
    missing = {s: v for s, v in sorted(needed.items()) if s not in in_base}
    c_library = sorted(s for s in missing if _C_LIBRARY.fullmatch(s))
    if c_library:
        users = sorted({f for s in c_library for f in missing[s][1]})
        raise JobError(
            f"the layer would need {', '.join(c_library)} from the C library, which {base}"
            f" lacks and a layer cannot carry (binaries load the base's own loader); needed"
            f" by {', '.join(users[:5])}{' ...' if len(users) > 5 else ''}. Build on the"
            " runtime's own family (--family) or deploy the image instead."
        )
    lib = stage / "lib"
    package_only = set()
    for soname, (real, users) in missing.items():
        lib.mkdir(exist_ok=True)
        with tempfile.TemporaryDirectory() as tmp:
            _export(client, image_id, real, Path(tmp))
            shutil.move(Path(tmp) / Path(real).name, lib / soname)
        (lib / soname).chmod(0o755)
        if all(u.startswith(f"{r_home}/site-library/") for u in users):
            package_only.add(soname)
    return package_only, _owners(client, image_id, missing, owner_query)


def _owners(
    client: DockerClient, image_id: str, libraries: dict[str, tuple[str, set[str]]], query: str
) -> dict[str, str]:
    if not libraries:
        return {}
    reals = [real for real, _ in libraries.values()]
    script = _OWNER_SCRIPTS[query] + "\n"
    found = dict(
        line.split("\t", 1)
        for line in _run(client, image_id, script, command_args=reals).splitlines()
        if "\t" in line
    )
    return {soname: found.get(real) or "unknown" for soname, (real, _) in libraries.items()}


def _relocate(stage: Path) -> list[Path]:
    patched = []
    for path in sorted(p for p in stage.rglob("*") if p.is_file() and not p.is_symlink()):
        data = path.read_bytes()
        if IMAGE_LANG in data:
            path.write_bytes(data.replace(IMAGE_LANG, LAYER_LANG))
            patched.append(path)
    return patched


def _check_in_base(client: DockerClient, base: str, stage: Path, layer_r_home: str) -> None:
    report = _run(
        client,
        base,
        _CHECK_SCRIPT,
        environment={"LAYER_R_HOME": layer_r_home},
        volumes={str(stage): {"bind": "/opt", "mode": "ro"}},
        user="993:990",
    )
    problems = _ldd_problems(report)
    if problems:
        raise JobError(
            f"the layer cannot run on {base}: it needs newer versions of the base's own libraries"
            " (the C library cannot be carried in a layer):\n  "
            + "\n  ".join(problems)
            + "\nA missing GLIBC_x version means the base's C library is older than the one the"
            " image was built on: build on the runtime's own family, or deploy the image."
        )
    home = next((line for line in report.splitlines() if line.startswith("R_HOME=")), "")
    if home != f"R_HOME={layer_r_home}":
        raise JobError(f"the relocated R does not start from /opt on {base}: {home or report}")


_VERSION = re.compile(r"(\S+): version `([^']+)' not found \(required by (\S+)\)")
_MISSING = re.compile(r"^\s*(\S+) => not found")


def _ldd_problems(report: str) -> list[str]:
    """ldd's complaints, one line per library: what it lacks and which files need it."""
    lacks: dict[str, set[str]] = {}
    users: dict[str, set[str]] = {}
    for line in report.splitlines():
        file, _, rest = line.partition(": ")
        if found := _VERSION.search(rest):
            library, what, user = Path(found[1]).name, found[2], found[3]
        elif found := _MISSING.match(rest):
            library, what, user = found[1], "(not in the base or the layer)", file
        else:
            continue
        lacks.setdefault(library, set()).add(what)
        users.setdefault(library, set()).add(user.removeprefix("/opt/"))
    lines = []
    for library in sorted(lacks):
        needed = sorted(users[library])
        shown = ", ".join(needed[:4]) + (f" and {len(needed) - 4} more" if len(needed) > 4 else "")
        lines.append(f"{library}: {', '.join(sorted(lacks[library]))}; needed by {shown}")
    return lines


def _parts(stage: Path, package_libs: set[str], r_home: str, *, split: bool) -> list[Part]:
    site_library = f"{r_home.removeprefix('/var/')}/site-library"  # lang/lib/R/site-library
    parts = {
        "R": Part("R", "r"),
        "runtime client": Part("runtime client", "r"),
        "packages": Part("packages", "packages" if split else "r"),
        "OS libraries for R": Part("OS libraries for R", "r"),
        "OS libraries for the packages": Part(
            "OS libraries for the packages", "packages" if split else "r"
        ),
    }
    for path in sorted(p for p in stage.rglob("*") if p.is_file()):
        rel = path.relative_to(stage).as_posix()
        if rel.startswith(f"{site_library}/"):
            name = "packages"
        elif rel.startswith("lang/"):
            name = "R"
        elif rel.startswith("lib/"):
            name = "OS libraries for the packages" if path.name in package_libs else (
                "OS libraries for R"
            )  # fmt: skip
        else:
            name = "runtime client"  # runtime/ and bootstrap
        parts[name].files.append(path)
    return [p for p in parts.values() if p.files]


def format_sizes(parts: list[Part], other_mb: float) -> str:
    rows = [(p.name, p.layer, p.size) for p in parts]
    if other_mb:
        rows.append(("function code and other layers", "-", int(other_mb * 1_000_000)))
    total = sum(size for *_, size in rows)
    lines = ["layer part                        layer      unzipped"]
    lines += [f"{name:<33} {layer:<9} {size / 1e6:>7.1f} MB" for name, layer, size in rows]
    lines.append(f"{'total (Lambda allows 262.1 MB)':<43} {total / 1e6:>7.1f} MB")
    return "\n".join(lines)


def _check_size(parts: list[Part], other_mb: float) -> None:
    total = sum(p.size for p in parts) + int(other_mb * 1_000_000)
    if total > UNZIPPED_LIMIT:
        raise JobError(
            f"the layer is too big for Lambda: {total / 1e6:.1f} MB unzipped, over the"
            f" {UNZIPPED_LIMIT / 1e6:.1f} MB Lambda allows a function and its layers together."
            f"\n{format_sizes(parts, other_mb)}\n"
            "Drop packages from the recipe, or deploy the image instead (up to 10 GB)."
        )


def _licences(kind: str, files: list[Path]) -> dict[str, str]:
    """R's licence (in the R layer) and that of each package among `files`."""
    licences = {"R": R_LICENSE} if kind == "r" else {}
    descriptions = [
        f for f in files if f.name == "DESCRIPTION" and f.parent.parent.name.endswith("library")
    ]
    for description in sorted(descriptions):
        fields = dict(
            line.split(":", 1) for line in description.read_text().splitlines() if ":" in line
        )
        if fields.get("Priority", "").strip() == "base":
            continue  # R's own packages: R's licence
        licences[description.parent.name] = fields.get("License", "unknown").strip()
    return licences


def _write(
    target: Target,
    stage: Path,
    parts: list[Part],
    owners: dict[str, str],
    options: LayerOptions,
    out: object,
) -> list[Layer]:
    kinds = ["r", "packages"] if options.split and target.recipe else ["r"]
    layers = []
    for kind in kinds:
        files = [f for p in parts if p.layer == kind for f in p.files]
        name = target.base_tag if kind == "r" and options.split else target.readable_tag
        if kind == "packages":
            name = f"{target.readable_tag}-packages"
        manifest = {
            "kind": kind,
            "r_version": target.r.version,
            "family": target.family.name,
            "arch": target.arch,
            "recipe": target.recipe.name if target.recipe else None,
            "compatible_runtime": COMPATIBLE_RUNTIME,
            "parts": {p.name: p.size for p in parts if p.layer == kind},
            "licenses": _licences(kind, files),
            # The carried OS libraries and the packages they come from (and their licences).
            "os_libraries": {f.name: owners[f.name] for f in files if f.parent == stage / "lib"},
        }
        dest = options.out_dir / f"{name}.zip"
        digest = layer_zip.write(stage, files, dest, manifest)
        size = sum(f.stat().st_size for f in files)
        layers.append(Layer(dest, digest, kind, size))
        print(f"==> layer {dest} ({kind}, sha256 {digest})", file=out)
    return layers
