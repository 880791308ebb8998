"""kubectl-ace: Rancher credentials for kubectl, with failover to the Authorized Cluster Endpoint."""

__version__ = "0.1.0"
