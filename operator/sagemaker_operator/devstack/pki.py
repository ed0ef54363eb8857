"""Key material for a throw-away control plane: an admin token and a service-account key pair.

The admin authenticates with a static bearer token (``--token-auth-file``) rather than a client
certificate: one line of text instead of a CA, and it is only ever used on loopback by tests.
"""

import secrets
from pathlib import Path

ADMIN_USER = "sagemaker-operator-admin"


def write_token_file(path: Path) -> str:
    """Write a kube-apiserver token file with one admin in ``system:masters``; return the token."""
    token = secrets.token_hex(24)
    path.write_text(f'{token},{ADMIN_USER},{ADMIN_USER},"system:masters"\n')
    path.chmod(0o600)
    return token


def write_service_account_keys(private_path: Path, public_path: Path) -> None:
    """Write an RSA key pair that signs and verifies ServiceAccount tokens."""
    # Imported here: only the local stack needs cryptography, the operator never does.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private_path.chmod(0o600)
    public_path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
