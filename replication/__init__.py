"""PostgreSQL cluster management, replication and failover for Strongroom nodes."""
