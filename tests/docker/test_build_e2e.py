"""End to end on the local stand-ins: build R from the local mirror on the debootstrapped Debian
base, then run R in the image the way Lambda runs it (non-root, read-only root, tmpfs /tmp)."""

import pytest

from rlambda.build.builder import BuildResult
from rlambda.pins import versions
from rlambda.target.tags import REPOSITORY

from ..conftest import build_on_local_stand_ins, check_locale_and_time_zone

pytestmark = pytest.mark.docker

# What R reports about the filesystem, as a Lambda function would see it.
PROBE = r"""
can_write <- function(dir) {
  f <- file.path(dir, "probe")
  ok <- suppressWarnings(tryCatch(file.create(f), error = function(e) FALSE))
  if (isTRUE(ok)) unlink(f)
  isTRUE(ok)
}
cat("version", as.character(getRversion()), "\n")
cat("uid", system("id -u", intern = TRUE), "\n")
cat("tmp", can_write(tempdir()), "\n")
cat("task", can_write("/var/task"), "\n")
cat("rhome", can_write(R.home()), "\n")
cat("libcurl", capabilities("libcurl"), "\n")
for (p in c("stats", "utils", "methods", "tools", "parallel")) library(p, character.only = TRUE)
cat("packages ok\n")
"""


@pytest.fixture(scope="module", params=["4.5.0", "4.0.4"])
def built(request, local_pins, local_mirror, debian_base) -> BuildResult:
    return build_on_local_stand_ins(local_pins, request.param, local_mirror, debian_base)


def run_like_lambda(client, image: str, command: list[str]) -> str:
    output = client.containers.run(
        image,
        entrypoint=command,  # instead of the runtime's bootstrap
        user="993:990",
        read_only=True,
        tmpfs={"/tmp": "size=64m"},
        network_disabled=True,
        mem_limit="512m",
        remove=True,
        stderr=True,
    )
    return output.decode()


def test_r_runs_as_lambda_runs_it(built, docker_client):
    out = run_like_lambda(docker_client, built.image_id, ["Rscript", "-e", PROBE])
    facts = dict(line.split(" ", 1) for line in out.strip().splitlines() if " " in line)
    assert facts["version"].strip() == built.r_version
    assert facts["uid"].strip() == "993"
    assert facts["tmp"].strip() == "TRUE"
    assert facts["task"].strip() == "FALSE"
    assert facts["rhome"].strip() == "FALSE"
    assert facts["libcurl"].strip() == "TRUE"
    assert "packages ok" in out


def test_r_starts_without_locale_warnings_under_lambdas_environment(built, docker_client):
    """LANG=en_US.UTF-8 and TZ=:UTC, as Lambda sets them: the final stage has the locale and
    tzdata (RUNTIME_PACKAGES), so R starts silently in that locale with time zones."""
    check_locale_and_time_zone(docker_client, built.image_id)


def test_every_shared_library_resolves(built, docker_client):
    """The runtime stage got every library ldd found in the builder, and nothing is missing."""
    script = (
        "find /var/lang -name '*.so' -o -name 'R' -path '*/exec/*' | "
        "LD_LIBRARY_PATH=/var/lang/lib/R/lib xargs ldd | grep 'not found' || echo all-found"
    )
    out = run_like_lambda(docker_client, built.image_id, ["sh", "-c", script])
    assert out.strip() == "all-found"


def test_docs_and_help_are_dropped(built, docker_client):
    script = "ls /var/lang/lib/R/doc; ls -d /var/lang/lib/R/library/*/help 2>/dev/null | wc -l"
    out = run_like_lambda(docker_client, built.image_id, ["sh", "-c", script]).split()
    assert out == ["COPYING", "0"]


def test_tags_and_labels(built, docker_client, debian_base):
    image = docker_client.images.get(built.image_id)
    assert f"{REPOSITORY}:r-{built.r_version}-debian-x86_64" in image.tags
    content = [t for t in image.tags if t.startswith(f"{REPOSITORY}:content-")]
    assert content == [built.ref]  # the result names its content tag
    assert built.content_tag.removeprefix("content-") in image.labels["io.rlambda.content-hash"]
    labels = image.labels
    pin = versions.load().r[built.r_version]
    assert labels["io.rlambda.r.version"] == built.r_version
    assert labels["io.rlambda.r.source.sha256"] == pin.sha256
    assert (
        labels["org.opencontainers.image.base.digest"] == docker_client.images.get(debian_base).id
    )
    assert len(labels["org.opencontainers.image.revision"]) in (40, len("unknown"))
    assert image.attrs["Architecture"] == "amd64"


def test_rebuild_with_nothing_changed_reuses_the_image(
    built, local_pins, local_mirror, debian_base
):
    again = build_on_local_stand_ins(local_pins, built.r_version, local_mirror, debian_base)
    assert not again.built
    assert again.image_id == built.image_id
    assert again.tags == built.tags
    assert again.content_tag == built.content_tag
