"""{{app}}: its background jobs live in `jobs.py`."""
