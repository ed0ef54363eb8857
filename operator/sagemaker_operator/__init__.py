"""sagemaker-operator: run Amazon SageMaker training jobs from Kubernetes ``TrainingJob`` resources.

The public names (API group, finalizer, provenance tags) live in :mod:`sagemaker_operator.names`
so that every part of the operator, the CRD generator and the tests spell them the same way.
"""

__version__ = "0.1.0"
