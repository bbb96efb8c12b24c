"""Lambda, locally: run an image the way Lambda runs it.

`runtime_api/` (the Runtime API emulator), `http_io` (bodies and answers for both HTTP servers),
`launcher` (how it starts a runtime: the protocol and a local process), `docker_launcher` (a
container), `lambda_sandbox` (Lambda's limits for it), `container_handle` (a running one),
`aws_rie/` (AWS's own emulator, pinned and verified, as a second judge), `events/` (event files
run against an image: `build.py test`; `fixtures/` holds the trigger events they can name),
`service/` (Lambda's Invoke API over a pool of environments: `build.py serve`).
"""
