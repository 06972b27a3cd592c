"""The pipeline's steps, one module each, and the state that flows between them.

``state.PipelineState`` is the Step Functions state; each step (``ingest``,
``fingerprint_upload``, ``resolve`` (lookup, lease), ``generate``, ``deliver`` (mux,
package), ``finish``) takes it and returns a copy with its own fields set. A handler in
``functions/<name>/app.py`` calls exactly one step.
"""
