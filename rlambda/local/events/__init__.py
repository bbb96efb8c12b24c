"""Test an image with events, run as Lambda runs it: `python build.py test --image REF`.

Each event file is invoked in turn against one function (so the first is a cold start and
the rest are warm, unless one crashes the runtime), through the Runtime API emulator with the
image in a Lambda-like container (rlambda.local.docker_launcher.DockerRuntime). The
image's own ENTRYPOINT and CMD choose the runtime and the handler, as on Lambda.

`files` (the event-file schema and loading; `fixtures/` holds the trigger events a file can
name), `settings` (TestSettings: memory, timeout, emulator), `run` (both emulators), `judge`
(one invoke against what its file expects), `table` (the printed results), `cli` (`build.py
test`).
"""
