"""CDK app: cdk.json names the catalog ({{app}}.jobs:catalog); offload builds a stack of just what it uses."""

from offload.cdk.app import main

if __name__ == "__main__":
    main()
