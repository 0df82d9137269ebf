//! The one file that names Prometheus metrics (INTEGRATION.md §2); filled in by the daemon issue.
