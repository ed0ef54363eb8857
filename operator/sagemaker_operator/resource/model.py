"""The botocore SageMaker service model, loaded once, and the three shapes the API is made of.

botocore ships the model as data; this module is the only place that loads it, so every
generator and mapper walks the same objects.
"""

import functools
from typing import Any

import botocore
import botocore.session

SERVICE = "sagemaker"
CREATE = "CreateTrainingJob"
UPDATE = "UpdateTrainingJob"
DESCRIBE = "DescribeTrainingJob"

BOTOCORE_VERSION: str = botocore.__version__

# NB: botocore ships no type hints; shapes are ``botocore.model.Shape`` objects, typed ``Any``.
Shape = Any


@functools.cache
def service_model() -> Any:
    return botocore.session.get_session().get_service_model(SERVICE)


def create_input() -> Shape:
    """The ``CreateTrainingJob`` request shape: the spec mirrors it."""
    return service_model().operation_model(CREATE).input_shape


def update_input() -> Shape:
    """The ``UpdateTrainingJob`` request shape: the members that may change after creation."""
    return service_model().operation_model(UPDATE).input_shape


def describe_output() -> Shape:
    """The ``DescribeTrainingJob`` response shape: the status is a selection of it."""
    return service_model().operation_model(DESCRIBE).output_shape
