"""The local cloud: runs the synthesized stack on one machine (never shipped to Lambda)."""
