"""Thin Lambda handlers shipped in the runtime layer: decorators, parse, one call into offload."""
