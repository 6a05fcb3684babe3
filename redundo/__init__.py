"""redundo: off-site backups, a standby and failover for small sites, as Pulumi code."""

__version__ = "0.1.0"
