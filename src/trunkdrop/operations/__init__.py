"""Running trunkdrop as several processes: worker heartbeats and step locks, readiness,
metrics, logs and cross-process wake-ups."""
