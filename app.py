"""CDK app of this repository: cdk.json names the catalog (every built-in pack), offload builds the stack.

An app that depends on offload has the same two lines (`offload init` writes them).
"""

from offload.cdk.app import build_app, main

__all__ = ["build_app"]

if __name__ == "__main__":
    main()
