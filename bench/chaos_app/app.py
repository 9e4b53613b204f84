"""The app `make chaos` runs: the core, images and video packs, plus a queue whose function times out after 3 s."""

from offload.cdk.app import main

if __name__ == "__main__":
    main()
