"""The public names of the project, fixed by the design; renaming any of them needs a migration."""

from typing import Final

GROUP: Final = "sagemaker-operator.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"
KIND: Final = "TrainingJob"
PLURAL: Final = "trainingjobs"
SINGULAR: Final = "trainingjob"
SHORT_NAMES: Final = ("smtj",)
CRD_NAME: Final = f"{PLURAL}.{GROUP}"

FINALIZER: Final = f"{GROUP}/stop-training-job"

TAG_NAMESPACE: Final = f"{GROUP}/namespace"
TAG_NAME: Final = f"{GROUP}/name"
TAG_UID: Final = f"{GROUP}/uid"

# Cluster-scoped: what the TrainingJobs of the namespaces it selects may do (admins own it).
POLICY_KIND: Final = "TrainingJobPolicy"
POLICY_PLURAL: Final = "trainingjobpolicies"
POLICY_CRD_NAME: Final = f"{POLICY_PLURAL}.{GROUP}"
