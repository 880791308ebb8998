"""Converting a kubeconfig file in place: tokens into the store, a backup with the secrets redacted, an atomic write."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from kubectl_ace import kubeconfig_files
from kubectl_ace.errors import AceError, InputError
from kubectl_ace.files import write_atomic, write_new
from kubectl_ace.onboarding.adoption import adopt
from kubectl_ace.onboarding.conversion import Conversion, convert_data, secrets_in
from kubectl_ace.store import Store

REDACTED = "moved-to-the-kubectl-ace-token-store"


@dataclass
class FileResult:
    """What convert did to one file."""

    path: str
    conversion: Conversion
    backup: str = ""
    backup_mode: int = 0
    adopted: int = 0
    notes: list[str] = field(default_factory=list)


def convert_file(path: str, store: Store) -> FileResult:
    """Convert one kubeconfig in place, under its lock: tokens into the store, a backup, then an atomic write."""
    real = os.path.realpath(path)
    with kubeconfig_files.locked_file(path, store):
        try:
            with open(real, encoding="utf-8") as handle:
                text = handle.read()
                mode = os.fstat(handle.fileno()).st_mode & 0o777
        except FileNotFoundError:
            raise InputError(f"{path} does not exist") from None
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from None
        if not text.strip():
            raise InputError(f"{path} reads as empty (another program may be rewriting it); nothing was changed")
        conversion = convert_data(kubeconfig_files.parse(text, path), path)
        result = FileResult(path, conversion)
        if not conversion.changed:
            return result
        new_text = kubeconfig_files.dump(conversion.data, text)
        secrets = secrets_in(conversion)
        if kubeconfig_files.parse(new_text, path) != conversion.data or any(s in new_text for s in secrets):
            raise AceError(
                f"converting {path} went wrong (the new text does not read back as written); "
                "nothing was changed; rerun with -v and report it"
            )
        result.adopted, result.notes = adopt(conversion, store)
        # A token lives only in the token store: the backup keeps the file's layout and the token's
        # name, with the secret half replaced (going back to it means logging in, or converting again).
        result.backup_mode = mode
        result.backup = write_backup(real, redacted(text, secrets), mode)
        write_atomic(real, new_text.encode("utf-8"), mode=mode)
    return result


def redacted(text: str, secrets: list[str]) -> str:
    """The text with each secret replaced by a note saying where the token went."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def write_backup(real: str, text: str, mode: int) -> str:
    """`<file>.bak-<YYYYmmddTHHMMSS>` (with -2, -3 … if that exists), created with `mode` from the start."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for attempt in range(1, 100):
        path = f"{real}.bak-{stamp}" + (f"-{attempt}" if attempt > 1 else "")
        try:
            write_new(path, text.encode("utf-8"), mode)
        except FileExistsError:
            continue
        except OSError as err:
            raise InputError(f"cannot write a backup beside {real}: {err.strerror}; nothing was changed") from None
        return path
    raise InputError(f"cannot find a free backup name beside {real}; nothing was changed")
