"""AWS's own Runtime Interface Emulator (RIE) as a second judge: run an image under it.

    from rlambda.local.aws_rie.function import AwsRie
    with AwsRie("r-lambda:content-ef1f", memory_mb=512, timeout_s=30) as function:
        result = function.invoke(b'{"x": 1}')     # an InvokeResult, as RuntimeApiServer's

`binary` (the pinned, verified binary), `function` (one function running under it), `logs`
(its START/REPORT lines); `python -m rlambda.local.aws_rie` fetches the binary and prints its
path (scripts/setup.sh).
"""
