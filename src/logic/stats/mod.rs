//! Anytime-valid statistics of STATS.md: e-processes, mixtures, intervals, non-inferiority tests.
