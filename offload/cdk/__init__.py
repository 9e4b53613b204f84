"""CDK stacks: stacks compose, constructs build (one construct per concern)."""
