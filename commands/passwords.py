"""Console passwords that satisfy the account's password policy, from `secrets`."""

from __future__ import annotations

import secrets
import string

from .iam import PasswordPolicy

# IAM accepts these symbols in passwords.
SYMBOLS = "!@#$%^&*()_+-=[]{}|'"
LENGTH = 20


def generate_password(policy: PasswordPolicy) -> str:
    """A random password of at least 20 characters with every class the policy asks for.

    Every class is always included, so it also satisfies AWS's default policy (three of four).
    """
    length = max(LENGTH, policy.minimum_length)
    classes = [string.ascii_uppercase, string.ascii_lowercase, string.digits, SYMBOLS]
    chars = [secrets.choice(cls) for cls in classes]
    alphabet = "".join(classes)
    chars += [secrets.choice(alphabet) for _ in range(length - len(chars))]
    # Fisher-Yates with secrets, so the class positions are not predictable either.
    for i in range(len(chars) - 1, 0, -1):
        j = secrets.randbelow(i + 1)
        chars[i], chars[j] = chars[j], chars[i]
    return "".join(chars)
