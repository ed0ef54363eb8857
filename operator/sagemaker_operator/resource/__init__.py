"""The TrainingJob API: what users write, what the operator sends, what it reports back.

Everything here follows botocore's SageMaker service model rather than a hand-kept list of
fields: the CRD's schema (``schema``, ``validations``, ``crd``), the spec -> request mapping
(``request``) and the Describe -> status mapping (``status``) all walk the same shapes, joined
by the one naming rule in ``naming``. A new SageMaker member therefore arrives in every part
at once, by regenerating the CRD.

Modules are imported as modules (``from sagemaker_operator.resource import request``) so call
sites read ``request.create_request(...)``.
"""
