"""Allow `python -m kubectl_ace`."""

from kubectl_ace.cli import entry

entry()
