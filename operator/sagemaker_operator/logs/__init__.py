"""Training logs where users already look: ``sagemaker-operator logs`` (also installed as
the kubectl plugin ``kubectl-sagemaker``) and the redaction the operator's failure tail uses.

Pure parts (:mod:`.text`: ``--since``, interleaving, formatting; :mod:`.redact`) are kept
apart from the reader that calls AWS (:mod:`.follow`) and the thin click command
(:mod:`.command`), so each is tested on its own.
"""

GROUP = "/aws/sagemaker/TrainingJobs"
