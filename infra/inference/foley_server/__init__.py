"""The SageMaker inference container of foleycache.

A separate program from the ``foleycache`` Lambdas: it owns the model, speaks
the SageMaker bring-your-own-container contract (``/ping``, ``/invocations``)
and, so that a local run differs from AWS only by ``AWS_ENDPOINT_URL_*``, also
the SageMaker *runtime* paths that boto3 calls.
"""
