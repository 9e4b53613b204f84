"""How the Lambda layers are built (no Docker)."""
